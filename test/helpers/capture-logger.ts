// A Logger that keeps what it is given (level, component, message, fields), for assertions on
// levels and fields that a plain line function cannot see.

import type { LogFields, Logger, LogLevel } from '../../src/protocol/log';

export interface CapturedLine {
  level: LogLevel;
  component: string | undefined;
  msg: string;
  fields: LogFields | undefined;
}

export function captureLogger(lines: CapturedLine[] = [], component?: string): Logger & { lines: CapturedLine[] } {
  const at =
    (level: LogLevel) =>
    (msg: string, fields?: LogFields): void =>
      void lines.push({ level, component, msg, fields });
  return {
    lines,
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (c) => captureLogger(lines, c),
  };
}
