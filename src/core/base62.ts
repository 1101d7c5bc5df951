// One implementation, shared with the client library (keyward-client/token-format).
export { BASE62_ALPHABET, encodeBase62, isBase62 } from "keyward-client/token-format";
