// One implementation of the RFC 6750 header rules, shared with the client library's
// adapters (keyward-client/bearer), so they answer exactly as the protected API does.
export { type BearerHeader, parseBearerHeader } from "keyward-client/bearer";
