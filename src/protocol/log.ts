// The one logging seam every component depends on. The server backs it with pino (node/logger.ts);
// tests and embedders may back it with a plain line function (`lineLogger`), so a component never
// knows how, or whether, its lines are written. Pure: no I/O here.

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Parses a --log-level value; undefined when it is not a level. */
export function parseLogLevel(value: string): LogLevel | undefined {
  return (LOG_LEVELS as readonly string[]).includes(value) ? (value as LogLevel) : undefined;
}

/** Extra structured fields of a line (e.g. `{ peer: 'n2', durationMs: 140 }`). */
export type LogFields = Record<string, unknown>;

export interface Logger {
  trace(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** The same destination, for another component (`raft`, `wal`, ...): replaces the component. */
  child(component: string): Logger;
}

/** What a component accepts: a Logger, or (embedders, older tests) a function taking plain lines. */
export type LogSink = Logger | ((line: string) => void);

/**
 * A Logger writing plain text lines: `component: message` (fields, when given, follow as
 * ` key=value`). Every level is written; the caller's function decides what to keep.
 */
export function lineLogger(write: (line: string) => void, component?: string): Logger {
  const emit = (msg: string, fields?: LogFields): void => {
    write(`${component !== undefined ? `${component}: ` : ''}${msg}${formatFields(fields)}`);
  };
  return {
    trace: emit,
    debug: emit,
    info: emit,
    warn: emit,
    error: emit,
    child: (c) => lineLogger(write, c),
  };
}

/** Writes nothing (tools that open storage but have no one to tell). */
export const noopLogger: Logger = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => noopLogger,
};

/** A Logger from whatever was given (no component yet); stderr lines when nothing was. */
export function toLogger(sink: LogSink | undefined, fallback: (line: string) => void): Logger {
  if (sink === undefined) return lineLogger(fallback);
  return typeof sink === 'function' ? lineLogger(sink) : sink;
}

/** The component's Logger from whatever it was given; stderr lines when nothing was. */
export function loggerFor(sink: LogSink | undefined, component: string, fallback: (line: string) => void): Logger {
  if (sink === undefined) return lineLogger(fallback, component);
  if (typeof sink === 'function') return lineLogger(sink, component);
  return sink.child(component);
}

/** ` key=value ...` for the fields of a text line; strings with spaces are quoted. */
export function formatFields(fields: LogFields | undefined): string {
  if (fields === undefined) return '';
  let out = '';
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    out += ` ${k}=${formatValue(v)}`;
  }
  return out;
}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === 'object' && v !== null) {
    try {
      return JSON.stringify(v);
    } catch {
      return '[unserializable]';
    }
  }
  if (typeof v === 'function') return '[function]';
  return String(v);
}

/**
 * At most `perWindow` lines per window for each reason; the rest are counted and the count is
 * reported with the next line of that reason after the window ends. The clock is the caller's
 * (this file stays pure).
 */
export class LogRateLimit {
  private readonly windows = new Map<string, { startMs: number; logged: number; suppressed: number }>();

  constructor(
    private readonly perWindow: number,
    private readonly windowMs: number,
    private readonly nowMs: () => number,
  ) {}

  /**
   * undefined: drop this line (counted). Otherwise log it, mentioning `suppressed` earlier lines
   * of the same reason that were dropped (0 when none).
   */
  admit(reason: string): { suppressed: number } | undefined {
    const now = this.nowMs();
    let w = this.windows.get(reason);
    let suppressed = 0;
    if (w === undefined || now - w.startMs >= this.windowMs) {
      suppressed = w?.suppressed ?? 0;
      w = { startMs: now, logged: 0, suppressed: 0 };
      this.windows.set(reason, w);
    }
    if (w.logged >= this.perWindow) {
      w.suppressed += 1;
      return undefined;
    }
    w.logged += 1;
    return { suppressed };
  }
}
