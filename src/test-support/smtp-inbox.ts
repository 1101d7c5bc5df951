import type { AddressInfo } from "node:net";
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import { pollUntil } from "./poll.js";

/** One message as the SMTP server received it. */
export interface ReceivedMail {
  /** The envelope's recipients (RCPT TO). */
  to: string[];
  from: string;
  subject: string;
  text: string;
  html: string;
  /** The whole message as sent (headers and every part, before decoding). */
  raw: string;
}

/**
 * A real SMTP server in the test process (npm smtp-server), on 127.0.0.1 and a free port:
 * Keyward sends to it through nodemailer as it would to any server, and the test reads what
 * arrived. No TLS and no login (the URL is smtp://127.0.0.1:<port>).
 */
export class SmtpInbox {
  readonly messages: ReceivedMail[] = [];
  private server: SMTPServer | undefined;
  port = 0;
  host = "127.0.0.1";

  get url(): string {
    return `smtp://${this.host}:${this.port}`;
  }

  /** Listens (again) on `port`, or a free one, on `host`. */
  async start(port = this.port, host = this.host): Promise<void> {
    this.host = host;
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS", "AUTH"],
      logger: false,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("end", () => {
          const raw = Buffer.concat(chunks).toString("utf8");
          simpleParser(raw).then(
            (parsed) => {
              this.messages.push({
                to: session.envelope.rcptTo.map((r) => r.address),
                from: session.envelope.mailFrom === false ? "" : session.envelope.mailFrom.address,
                subject: parsed.subject ?? "",
                text: parsed.text ?? "",
                html: typeof parsed.html === "string" ? parsed.html : "",
                raw,
              });
              callback();
            },
            (error: Error) => callback(error),
          );
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    this.port = (server.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The messages to `recipient` so far. */
  to(recipient: string): ReceivedMail[] {
    return this.messages.filter((m) => m.to.includes(recipient));
  }

  /** Waits until `count` messages to `recipient` (matching `subject`, when given) have arrived. */
  async waitFor(recipient: string, subject?: RegExp, count = 1): Promise<ReceivedMail[]> {
    return pollUntil(`${count} email(s) to ${recipient}${subject ? ` (${subject})` : ""}`, () => {
      const found = this.to(recipient).filter(
        (m) => subject === undefined || subject.test(m.subject),
      );
      return found.length >= count ? found : undefined;
    });
  }
}

/** The code of the link in an email's text (`…#code=<code>`). */
export function linkCodeOf(mail: ReceivedMail): string {
  const match = /#code=([0-9A-Za-z]+)/.exec(mail.text);
  if (!match?.[1]) throw new Error(`no link in: ${mail.text}`);
  return match[1];
}
