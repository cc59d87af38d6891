// The server's Logger, backed by pino: one JSON object per line (time, level, nodeId, component,
// msg, fields) for log shippers, or the same records as short readable lines on a terminal.
//
// The readable format is our own small formatter rather than pino-pretty: it needs no transport
// worker thread or extra dependencies, and it writes synchronously, so the last line before a
// fatal exit is never lost.

import pino from 'pino';

import { formatFields, LOG_LEVELS, type LogFields, type Logger, type LogLevel } from '../protocol/log';
import type { LogFormat } from './server-options';


export interface LoggerOptions {
  /** auto (default): pretty when the destination is a terminal, else json. */
  format?: LogFormat;
  /** Lines below this level are not written (default info). */
  level?: LogLevel;
  /** This node's id, on every line. */
  nodeId: string;
  /** Where lines go (default: stderr, synchronously). Tests capture here. */
  destination?: { write(line: string): void };
  /** Whether the destination is a terminal (default: stderr's isTTY); decides `auto`. */
  isTty?: boolean;
  /** Colour the level in pretty lines (default: when the destination is a terminal). */
  colors?: boolean;
}

export function createLogger(opts: LoggerOptions): Logger {
  const isTty = opts.isTty ?? process.stderr.isTTY === true;
  const format = opts.format === undefined || opts.format === 'auto' ? (isTty ? 'pretty' : 'json') : opts.format;
  // Synchronous: the line before a fatal exit (process.exit) must reach stderr.
  const out = opts.destination ?? pino.destination({ dest: 2, sync: true });
  const destination = format === 'json' ? out : prettyDestination(out, opts.colors ?? isTty);
  const root = pino(
    {
      level: opts.level ?? 'info',
      base: { nodeId: opts.nodeId },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  return new PinoLogger(root, root);
}

class PinoLogger implements Logger {
  constructor(
    private readonly root: pino.Logger,
    private readonly p: pino.Logger,
  ) {}

  trace(msg: string, fields?: LogFields): void {
    if (fields) this.p.trace(fields, msg);
    else this.p.trace(msg);
  }
  debug(msg: string, fields?: LogFields): void {
    if (fields) this.p.debug(fields, msg);
    else this.p.debug(msg);
  }
  info(msg: string, fields?: LogFields): void {
    if (fields) this.p.info(fields, msg);
    else this.p.info(msg);
  }
  warn(msg: string, fields?: LogFields): void {
    if (fields) this.p.warn(fields, msg);
    else this.p.warn(msg);
  }
  error(msg: string, fields?: LogFields): void {
    if (fields) this.p.error(fields, msg);
    else this.p.error(msg);
  }
  child(component: string): Logger {
    // From the root, not from this child: pino would repeat a `component` key bound twice.
    return new PinoLogger(this.root, this.root.child({ component }));
  }
}

/** Keys of a record that the pretty line shows in its own places rather than as key=value. */
const PLACED = new Set(['time', 'level', 'nodeId', 'component', 'msg', 'pid', 'hostname']);
const LEVEL_COLOURS: Record<string, string> = { trace: '90', debug: '36', info: '32', warn: '33', error: '31', fatal: '35' };
const LEVEL_WIDTH = Math.max(...LOG_LEVELS.map((l) => l.length));

/** `2026-01-02T03:04:05.678Z INFO  n1 raft: message key=value` from each JSON record. */
function prettyDestination(out: { write(line: string): void }, colors: boolean): { write(line: string): void } {
  return {
    write(record: string) {
      let r: Record<string, unknown>;
      try {
        r = JSON.parse(record) as Record<string, unknown>;
      } catch {
        out.write(record);
        return;
      }
      const text = (k: string): string => (typeof r[k] === 'string' ? r[k] : r[k] === undefined ? '' : JSON.stringify(r[k]));
      const level = text('level');
      const padded = level.toUpperCase().padEnd(LEVEL_WIDTH);
      const shownLevel = colors && LEVEL_COLOURS[level] ? `\x1b[${LEVEL_COLOURS[level]}m${padded}\x1b[0m` : padded;
      const fields: LogFields = {};
      for (const [k, v] of Object.entries(r)) if (!PLACED.has(k)) fields[k] = v;
      const component = r['component'] !== undefined ? `${text('component')}: ` : '';
      out.write(`${text('time')} ${shownLevel} ${text('nodeId')} ${component}${text('msg')}${formatFields(fields)}\n`);
    },
  };
}

/** Where a node's log lines go when it was given no sink: standard error, one line each. */
export function stderrLine(line: string): void {
  process.stderr.write(`${line}\n`);
}
