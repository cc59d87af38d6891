// The query protocol's XML answers: an action's output (its JSON 1.0 shape) rendered with the
// element names and flattening of ./shapes.ts inside `<XResponse><XResult>`, and the
// `<ErrorResponse>` of a failed request.

import type { SqsShape, SqsStruct } from './shapes';

export const SQS_XML_NAMESPACE = 'http://queue.amazonaws.com/doc/2012-11-05/';

/**
 * Text as XML character data. Besides the markup characters, CR is written as a reference so
 * that a parser's line-end normalisation does not turn it into LF (a message body must come back
 * as sent), and characters XML 1.0 cannot carry at all (most C0 controls, lone surrogates, U+FFFE,
 * U+FFFF) become U+FFFD: the actions refuse such bodies, so this only keeps a stray one from
 * making the whole answer unparseable.
 */
// XML 1.0's Char production (tab, LF, CR, and from U+0020 up, less surrogates, U+FFFE, U+FFFF),
// negated, plus the characters that are escaped. Built from text: eslint forbids control
// characters in regular expression literals.
const NEEDS_ESCAPE = new RegExp('[&<>"\'\\r]|[^\\t\\n\\r\\x20-\\uD7FF\\uE000-\\uFFFD\\u{10000}-\\u{10FFFF}]', 'gu');

export function xmlEscape(text: string): string {
  return text.replace(NEEDS_ESCAPE, (c) => {
    switch (c) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '"':
        return '&quot;';
      case "'":
        return '&apos;';
      case '\r':
        return '&#xD;';
      default:
        return '\uFFFD';
    }
  });
}

function element(name: string, inner: string): string {
  return `<${name}>${inner}</${name}>`;
}

function metadata(requestId: string): string {
  return element('ResponseMetadata', element('RequestId', xmlEscape(requestId)));
}

/**
 * A successful answer. Actions with an output shape get `<XResult>` (even when empty); actions
 * without one answer the metadata alone, as SQS does.
 */
export function renderXmlResult(action: string, shape: SqsStruct | undefined, output: Record<string, unknown>, requestId: string): string {
  const result = shape === undefined ? '' : element(`${action}Result`, structXml(shape, output));
  return `<?xml version="1.0"?><${action}Response xmlns="${SQS_XML_NAMESPACE}">${result}${metadata(requestId)}</${action}Response>`;
}

export function renderXmlError(type: 'Sender' | 'Receiver', code: string, message: string, requestId: string): string {
  const error = element('Error', element('Type', type) + element('Code', xmlEscape(code)) + element('Message', xmlEscape(message)) + '<Detail/>');
  return `<?xml version="1.0"?><ErrorResponse xmlns="${SQS_XML_NAMESPACE}">${error}${element('RequestId', xmlEscape(requestId))}</ErrorResponse>`;
}

function structXml(shape: SqsStruct, obj: Record<string, unknown>): string {
  let out = '';
  for (const [member, def] of Object.entries(shape.members)) {
    if (!Object.prototype.hasOwnProperty.call(obj, member)) continue;
    const v = obj[member];
    if (v === undefined || v === null) continue;
    out += valueXml(def.name ?? member, def.shape, v);
  }
  return out;
}

/** `v` as the element(s) `name`: a flattened list or map is one element per item. */
function valueXml(name: string, s: SqsShape, v: unknown): string {
  switch (s.t) {
    case 'struct':
      return typeof v === 'object' && v !== null ? element(name, structXml(s, v as Record<string, unknown>)) : '';
    case 'list': {
      if (!Array.isArray(v)) return '';
      const items = v.filter((item) => item !== null && item !== undefined);
      if (s.flat) return items.map((item) => valueXml(s.item ?? name, s.of, item)).join('');
      return element(name, items.map((item) => valueXml(s.item ?? 'member', s.of, item)).join(''));
    }
    case 'map': {
      if (typeof v !== 'object' || v === null) return '';
      const entries = Object.entries(v as Record<string, unknown>)
        .filter(([, item]) => item !== null && item !== undefined)
        .map(([k, item]) => element(s.flat ? name : 'entry', element(s.key, xmlEscape(k)) + valueXml(s.value, s.of, item)));
      return s.flat ? entries.join('') : element(name, entries.join(''));
    }
    case 'boolean':
      return element(name, v === true ? 'true' : 'false');
    case 'string':
    case 'integer':
    case 'long':
    case 'blob':
      return element(name, xmlEscape(String(v)));
  }
}
