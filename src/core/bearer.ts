// One implementation of the RFC 6750 header rules, and of what counts as a token in the
// URL, shared with the client library's adapters (keyward-client/bearer), so they answer
// exactly as the protected API does.
export { type BearerHeader, hasQueryToken, parseBearerHeader } from "keyward-client/bearer";
