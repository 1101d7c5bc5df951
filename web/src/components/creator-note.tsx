import type { ServiceKey } from "../api";
import { LongText } from "./long-text";
import "./creator-note.css";

/**
 * Who made a service key or a webhook, marked when they no longer manage the application:
 * someone who left, or who came back as a plain member, may still hold a key they saw when
 * it was made, or run the webhook's receiver.
 */
export function CreatorNote({ createdBy }: { createdBy: ServiceKey["createdBy"] }) {
  if (createdBy === null) return null;
  return (
    <span className="creator-note">
      by <LongText text={createdBy.email} />
      {!createdBy.member && <strong className="creator-left">no longer a member</strong>}
      {createdBy.role === "member" && (
        <strong className="creator-left">now a member, not an admin</strong>
      )}
    </span>
  );
}
