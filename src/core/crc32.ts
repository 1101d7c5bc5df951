// One implementation, shared with the client library (keyward-client/token-format).
export { crc32, crc32Ascii } from "keyward-client/token-format";
