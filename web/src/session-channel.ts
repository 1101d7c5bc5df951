// Tabs of this app tell each other when someone signs out or in: the cookie they share has
// changed, and a tab should not wait for its next refresh to find out.

export const SESSION_CHANNEL = "keyward-session";

export type SessionMessage = { kind: "signed-out" } | { kind: "signed-in"; userId: string };

/** Tells this app's other tabs that the session cookie they share changed. */
export function announceSession(message: SessionMessage): void {
  if (typeof BroadcastChannel === "undefined") return;
  const channel = new BroadcastChannel(SESSION_CHANNEL);
  channel.postMessage(message);
  channel.close();
}
