/**
 * When a dropped LISTEN connection is tried again: after `initial` ms, doubling up to `max`
 * with each failed attempt, each delay jittered to 50-100 % of itself so that the processes
 * of a deployment do not all reconnect at once after a database restart. `attempts`
 * counts the attempts since the last success (`succeeded` resets it).
 */
export class ReconnectSchedule {
  attempts = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly delays: { initial: number; max: number },
    private readonly attempt: () => void,
  ) {}

  /** Schedules the next attempt, unless one is already scheduled. */
  schedule(): void {
    if (this.timer !== undefined) return;
    const delay = Math.min(this.delays.max, this.delays.initial * 2 ** this.attempts);
    this.attempts++;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.attempt();
      },
      delay * (0.5 + Math.random() / 2),
    );
    this.timer.unref();
  }

  succeeded(): void {
    this.attempts = 0;
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
