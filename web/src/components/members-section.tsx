import { type FormEvent, useCallback, useEffect, useId, useMemo, useRef, useState } from "react";
import {
  ApiError,
  type Application,
  api,
  describeError,
  type Invitation,
  type Member,
  PageError,
  type ServiceKey,
  type Webhook,
} from "../api";
import { plural, roleLabels } from "../format";
import { describedBy, FieldError } from "./field";
import { Pager, SearchBox, searchKey, useDebounced, usePage } from "./list-controls";
import { LongText } from "./long-text";
import { ConfirmDialog } from "./modal";
import { RelativeTime } from "./relative-time";
import { useNow } from "./use-now";
import "./members-section.css";

/** Owners and admins: who is in the application, add by email, remove (which revokes their tokens). */
export function MembersSection({
  app,
  meId,
  onMemberRemoved,
  onMemberAdded,
}: {
  app: Application;
  meId: string;
  onMemberRemoved: () => void;
  onMemberAdded?: () => void;
}) {
  const [members, setMembers] = useState<Member[] | undefined>();
  const [invitations, setInvitations] = useState<Invitation[] | undefined>();
  const [loadError, setLoadError] = useState<string | undefined>();
  const [removing, setRemoving] = useState<Member | undefined>();
  const [announcement, setAnnouncement] = useState("");
  const now = useNow();
  const [search, setSearch] = useState("");
  const settledSearch = useDebounced(search, 150);
  const matching = useMemo(() => {
    const wanted = searchKey(settledSearch.trim());
    if (!wanted) return members ?? [];
    return (members ?? []).filter(
      (m) => searchKey(m.name).includes(wanted) || searchKey(m.email).includes(wanted),
    );
  }, [members, settledSearch]);
  const page = usePage(matching, settledSearch);

  const load = useCallback(async () => {
    try {
      const [memberList, invitationList] = await Promise.all([
        api.listMembers(app.id),
        api.listInvitations(app.id),
      ]);
      setMembers(memberList.members);
      setInvitations(invitationList.invitations);
      setLoadError(undefined);
    } catch (e) {
      setLoadError(describeError(e));
    }
  }, [app.id]);

  useEffect(() => {
    void load();
  }, [load]);

  return (
    <section className="section" aria-labelledby="members-heading">
      <div className="section-header">
        <div>
          <h2 id="members-heading">Members</h2>
          <p className="section-lede">
            Members create and manage their own tokens here. Admins can also add and remove members
            and revoke anyone’s token.
          </p>
        </div>
      </div>
      <div className="card">
        <AddMemberForm
          appId={app.id}
          onAdded={(invitation) => {
            setInvitations((prev) => [
              ...(prev ?? []).filter((i) => i.email !== invitation.email),
              invitation,
            ]);
            setAnnouncement(
              `${invitation.email} invited as ${roleLabels[invitation.role].toLowerCase()}.`,
            );
            onMemberAdded?.();
          }}
        />
      </div>
      {invitations && invitations.length > 0 && (
        <div className="card card-flush">
          <h3 className="card-title card-pad" id="invitations-heading">
            Pending invitations
          </h3>
          <div className="table-wrap">
            <table
              className="table grid-table invitations-table"
              aria-labelledby="invitations-heading"
            >
              <thead>
                <tr>
                  <th scope="col">Email</th>
                  <th scope="col">Role</th>
                  <th scope="col">Expires</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {invitations.map((invitation) => (
                  <tr key={invitation.id}>
                    <th scope="row" className="cell-name">
                      <LongText text={invitation.email} />
                    </th>
                    <td data-label="Role">{roleLabels[invitation.role]}</td>
                    <td data-label="Expires">
                      <RelativeTime iso={invitation.expiresAt} now={now} />
                    </td>
                    <td className="cell-actions">
                      <button
                        type="button"
                        className="button button-small button-danger-outline"
                        aria-label={`Withdraw the invitation of ${invitation.email}`}
                        onClick={() =>
                          void api.withdrawInvitation(app.id, invitation.id).then(
                            () => {
                              setInvitations((prev) => prev?.filter((i) => i.id !== invitation.id));
                              setAnnouncement(`Invitation of ${invitation.email} withdrawn.`);
                            },
                            (e: unknown) => setLoadError(describeError(e)),
                          )
                        }
                      >
                        Withdraw
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      )}
      <div className="card card-flush">
        {loadError && (
          <div className="callout callout-danger card-callout" role="alert">
            {loadError}
          </div>
        )}
        {!members && !loadError && (
          <p className="loading card-pad" role="status">
            Loading members…
          </p>
        )}
        {members && (
          <div className="list-controls">
            <SearchBox
              label="Search members by name or email"
              value={search}
              onChange={setSearch}
            />
            <span className="list-total" role="status">
              {settledSearch.trim()
                ? `${plural(matching.length, "match", "matches")} of ${members.length}`
                : plural(members.length, "member", "members")}
            </span>
          </div>
        )}
        {members && matching.length === 0 && (
          <p className="empty card-pad">No members match “{settledSearch.trim()}”.</p>
        )}
        {members && page.shown.length > 0 && (
          <div className="table-wrap">
            <table className="table grid-table members-table" aria-labelledby="members-heading">
              <thead>
                <tr>
                  <th scope="col">Member</th>
                  <th scope="col">Role</th>
                  <th scope="col">Joined</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {page.shown.map((member) => (
                  <tr key={member.userId}>
                    <th scope="row" className="cell-name">
                      <span className="member-name" id={`member-${member.userId}`}>
                        <LongText text={member.name} />
                        {member.userId === meId && <span className="muted">(you)</span>}
                      </span>
                      <LongText className="member-email" text={member.email} />
                    </th>
                    <td data-label="Role">
                      <span className={`badge badge-role badge-${member.role}`}>
                        {roleLabels[member.role]}
                      </span>
                    </td>
                    <td data-label="Joined">
                      <RelativeTime iso={member.joinedAt} now={now} />
                    </td>
                    <td className="cell-actions">
                      {member.role !== "owner" && member.userId !== meId && (
                        <button
                          type="button"
                          className="button button-small button-danger-outline"
                          aria-label={`Remove ${member.email}`}
                          onClick={() => setRemoving(member)}
                        >
                          Remove
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {members && <Pager page={page} noun="members" />}
      </div>
      <p className="sr-only" role="status" aria-live="polite">
        {announcement}
      </p>
      {removing && (
        <RemoveMemberDialog
          app={app}
          member={removing}
          onCancel={() => setRemoving(undefined)}
          onRemoved={() => {
            setMembers((prev) => prev?.filter((m) => m.userId !== removing.userId));
            setAnnouncement(`${removing.email} removed; their tokens were revoked.`);
            setRemoving(undefined);
            onMemberRemoved();
          }}
        />
      )}
    </section>
  );
}

function AddMemberForm({
  appId,
  onAdded,
}: {
  appId: string;
  onAdded: (invitation: Invitation) => void;
}) {
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<"member" | "admin">("member");
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const id = useId();

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    try {
      const { invitation } = await api.addMember(appId, { email, role });
      setEmail("");
      onAdded(invitation);
    } catch (e) {
      setError(
        e instanceof ApiError && e.code === "already_member"
          ? "That person is already a member."
          : describeError(e),
      );
      document.getElementById(`${id}-email`)?.focus();
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="form" onSubmit={submit} aria-labelledby={`${id}-heading`}>
      <h3 id={`${id}-heading`} className="card-title">
        Invite a member
      </h3>
      <div className="form-row">
        <div className="field field-grow">
          <label htmlFor={`${id}-email`}>Member email</label>
          <input
            id={`${id}-email`}
            type="email"
            name="email"
            autoComplete="off"
            required
            value={email}
            aria-invalid={error ? true : undefined}
            aria-describedby={describedBy(`${id}-email`, false, error)}
            onChange={(e) => setEmail(e.target.value)}
          />
          <FieldError id={`${id}-email`} error={error} />
        </div>
        <div className="field">
          <label htmlFor={`${id}-role`}>Role</label>
          <select
            id={`${id}-role`}
            name="role"
            value={role}
            onChange={(e) => setRole(e.target.value === "admin" ? "admin" : "member")}
          >
            <option value="member">Member</option>
            <option value="admin">Admin</option>
          </select>
        </div>
        <div className="field field-button">
          <button type="submit" className="button button-primary" aria-busy={busy}>
            Invite
          </button>
        </div>
      </div>
      <p className="field-hint">
        They accept on their applications page within 7 days, signing up with this email if they
        have no account yet.
      </p>
    </form>
  );
}

/** "Also revoke that service key and delete those webhooks", for what a member made. */
function alsoRemoveLabel(keys: number, webhooks: number): string {
  const parts: string[] = [];
  if (keys > 0) parts.push(`revoke ${keys === 1 ? "that service key" : "those service keys"}`);
  if (webhooks > 0) parts.push(`delete ${webhooks === 1 ? "that webhook" : "those webhooks"}`);
  return `Also ${parts.join(" and ")}`;
}

function RemoveMemberDialog({
  app,
  member,
  onCancel,
  onRemoved,
}: {
  app: Application;
  member: Member;
  onCancel: () => void;
  onRemoved: () => void;
}) {
  const [activeTokens, setActiveTokens] = useState<number | undefined>();
  useEffect(() => {
    let cancelled = false;
    api
      .listTokens(app.id, true)
      .then((res) => {
        if (cancelled) return;
        setActiveTokens(
          res.tokens.filter((t) => t.owner?.id === member.userId && t.status === "active").length,
        );
      })
      .catch(() => {
        // The count is a courtesy; the warning below stands without it.
      });
    return () => {
      cancelled = true;
    };
  }, [app.id, member.userId]);

  // What they made that outlives their membership: a service key they saw when it was made
  // keeps working for whoever holds it, and a webhook keeps sending events to its address.
  const [made, setMade] = useState<
    { keys: ServiceKey[]; webhooks: Webhook[] } | "unknown" | undefined
  >();
  const [alsoRevoke, setAlsoRevoke] = useState(false);
  useEffect(() => {
    let cancelled = false;
    Promise.all([api.listServiceKeys(app.id), api.listWebhooks(app.id)])
      .then(([keys, webhooks]) => {
        if (cancelled) return;
        setMade({
          keys: keys.serviceKeys.filter(
            (k) => k.status === "active" && k.createdBy?.id === member.userId,
          ),
          webhooks: webhooks.webhooks.filter((w) => w.createdBy?.id === member.userId),
        });
      })
      .catch(() => {
        if (!cancelled) setMade("unknown");
      });
    return () => {
      cancelled = true;
    };
  }, [app.id, member.userId]);
  const known = made === undefined || made === "unknown" ? undefined : made;
  const madeCount = known ? known.keys.length + known.webhooks.length : 0;

  // Once removed, a retry (after a revocation failed) only finishes the revocations: the
  // member is not removed twice, and what is done is not done again. `unfinished` is set
  // only when a revocation failed: it changes the button, locks the choice, and makes
  // closing the dialog report the removal that did happen.
  const removed = useRef(false);
  const [unfinished, setUnfinished] = useState(false);
  const done = useRef(new Set<string>());
  const remove = async () => {
    if (!removed.current) {
      try {
        await api.removeMember(app.id, member.userId);
      } catch (e) {
        // Removed meanwhile (another admin, another tab): nothing left to remove.
        if (!(e instanceof ApiError && e.status === 404)) throw e;
      }
      removed.current = true;
    }
    if (alsoRevoke && known) {
      const steps = [
        ...known.keys.map((k) => ({ id: k.id, run: () => api.revokeServiceKey(app.id, k.id) })),
        ...known.webhooks.map((w) => ({ id: w.id, run: () => api.deleteWebhook(app.id, w.id) })),
      ];
      let failed = 0;
      for (const step of steps) {
        if (done.current.has(step.id)) continue;
        try {
          await step.run();
          done.current.add(step.id);
        } catch {
          failed++;
        }
      }
      if (failed > 0) {
        setUnfinished(true);
        throw new PageError(
          `${member.email} is removed, but ${failed} of ${steps.length} service keys and webhooks could not be revoked or deleted. Try again, or do it on the settings page.`,
        );
      }
    }
    onRemoved();
  };

  return (
    <ConfirmDialog
      title={
        <>
          Remove <span className="token-name-text">{member.email}</span>?
        </>
      }
      confirmLabel={unfinished ? "Try again" : "Remove member"}
      onConfirm={remove}
      onCancel={unfinished ? onRemoved : onCancel}
      tone="danger"
      returnFocus={() => document.getElementById("members-heading")}
    >
      <p>
        <LongText text={member.name} /> loses access to <LongText text={app.name} />.
      </p>
      <div className="callout callout-warning">
        <strong>
          {activeTokens === undefined
            ? "All of their tokens in this application will be revoked."
            : activeTokens === 0
              ? "Their tokens in this application will be revoked (they have no active ones)."
              : `Their ${plural(activeTokens, "active token", "active tokens")} in this application will be revoked.`}
        </strong>{" "}
        Programs using those tokens are refused from their next request.
      </div>
      {made === "unknown" && (
        <p className="field-hint">
          Service keys and webhooks they made could not be checked: the settings page lists who made
          each one.
        </p>
      )}
      {known && madeCount > 0 && (
        <div className="callout callout-warning" data-testid="member-made">
          <p>
            <strong>
              They made{" "}
              {[
                known.keys.length > 0 && plural(known.keys.length, "service key", "service keys"),
                known.webhooks.length > 0 && plural(known.webhooks.length, "webhook", "webhooks"),
              ]
                .filter(Boolean)
                .join(" and ")}{" "}
              here, which {madeCount === 1 ? "stays" : "stay"}.
            </strong>{" "}
            Whoever saw a service key when it was made can keep using it, and a webhook keeps
            sending this application's events to its address.
          </p>
          <ul className="member-made-list">
            {known.keys.map((k) => (
              <li key={k.id}>
                Service key “<LongText text={k.name} />” <span className="mono">{k.hint}</span>
              </li>
            ))}
            {known.webhooks.map((w) => (
              <li key={w.id}>
                Webhook <span className="mono">{w.url}</span>
              </li>
            ))}
          </ul>
          <label className="checkbox">
            <input
              type="checkbox"
              checked={alsoRevoke}
              disabled={unfinished}
              onChange={(e) => setAlsoRevoke(e.target.checked)}
            />
            {alsoRemoveLabel(known.keys.length, known.webhooks.length)}
          </label>
        </div>
      )}
    </ConfirmDialog>
  );
}
