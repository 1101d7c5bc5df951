import type { Migration } from "kysely";
import * as initial from "./0001-initial.js";
import * as audit from "./0002-audit.js";
import * as exposed from "./0003-exposed.js";
import * as rateCounters from "./0004-rate-counters.js";
import * as usageLastUsed from "./0005-usage-last-used.js";
import * as host from "./0006-host.js";
import * as revocationEvents from "./0007-revocation-events.js";
import * as userDisabled from "./0008-user-disabled.js";
import * as operator from "./0009-operator.js";
import * as allowedAddresses from "./0010-allowed-addresses.js";
import * as policiesWebhooks from "./0011-policies-webhooks.js";
import * as accountSecurity from "./0012-account-security.js";
import * as importedTokens from "./0013-imported-tokens.js";
import * as twoFactor from "./0014-two-factor.js";
import * as email from "./0015-email.js";
import * as portalKey from "./0016-portal-key.js";
import * as portalSessionKey from "./0017-portal-session-key.js";
import * as secretNotices from "./0018-secret-notices.js";
import * as usageUncheckedToken from "./0019-usage-unchecked-token.js";

/** Every migration this version of Keyward knows, in order. Append; never edit a released one. */
export const migrations: Record<string, Migration> = {
  "0001-initial": initial,
  "0002-audit": audit,
  "0003-exposed": exposed,
  "0004-rate-counters": rateCounters,
  "0005-usage-last-used": usageLastUsed,
  "0006-host": host,
  "0007-revocation-events": revocationEvents,
  "0008-user-disabled": userDisabled,
  "0009-operator": operator,
  "0010-allowed-addresses": allowedAddresses,
  "0011-policies-webhooks": policiesWebhooks,
  "0012-account-security": accountSecurity,
  "0013-imported-tokens": importedTokens,
  "0014-two-factor": twoFactor,
  "0015-email": email,
  "0016-portal-key": portalKey,
  "0017-portal-session-key": portalSessionKey,
  "0018-secret-notices": secretNotices,
  "0019-usage-unchecked-token": usageUncheckedToken,
};
