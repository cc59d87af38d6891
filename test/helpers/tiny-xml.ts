// A strict little XML reader for the SQS query protocol's answers in tests: elements, attributes
// (kept raw), text with the five entities and numeric references. It throws on anything
// malformed (a mismatched end tag, a bare '&' or '<', text outside the root), so a test that
// parses an answer also checks that it is well-formed.

export interface XmlElement {
  name: string;
  attrs: string;
  children: XmlElement[];
  /** The concatenated text directly inside (entities decoded). */
  text: string;
}

export function parseXml(xml: string): XmlElement {
  let i = 0;
  if (xml.startsWith('<?xml')) {
    i = xml.indexOf('?>') + 2;
    if (i < 2) throw new Error('unterminated XML declaration');
  }
  const root = readElement();
  if (xml.slice(i).trim() !== '') throw new Error(`content after the root element: ${xml.slice(i, i + 40)}`);
  return root;

  function readElement(): XmlElement {
    const m = /^<([A-Za-z_][\w.-]*)([^<>]*?)(\/?)>/.exec(xml.slice(i));
    if (!m) throw new Error(`expected an element at ${i}: ${xml.slice(i, i + 40)}`);
    i += m[0].length;
    const el: XmlElement = { name: m[1]!, attrs: m[2]!.trim(), children: [], text: '' };
    if (m[3] === '/') return el;
    for (;;) {
      const lt = xml.indexOf('<', i);
      if (lt < 0) throw new Error(`unterminated <${el.name}>`);
      el.text += decode(xml.slice(i, lt));
      i = lt;
      if (xml.startsWith(`</${el.name}>`, i)) {
        i += el.name.length + 3;
        return el;
      }
      if (xml.startsWith('</', i)) throw new Error(`mismatched end tag at ${i} inside <${el.name}>`);
      el.children.push(readElement());
    }
  }
}

function decode(text: string): string {
  if (/[<>]/.test(text)) throw new Error(`markup character in text: ${text}`);
  return text.replace(/&(#x[0-9A-Fa-f]+|#\d+|[a-z]+);|&/g, (whole, ref: string | undefined) => {
    if (ref === undefined) throw new Error(`bare & in text: ${text}`);
    if (ref.startsWith('#x')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
    const v = named[ref];
    if (v === undefined) throw new Error(`unknown entity ${whole}`);
    return v;
  });
}

/** The children named `name`. */
export function all(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

/** The one child named `name` (throws when there is not exactly one). */
export function one(el: XmlElement, name: string): XmlElement {
  const found = all(el, name);
  if (found.length !== 1) throw new Error(`<${el.name}> has ${found.length} <${name}>, expected 1`);
  return found[0]!;
}

/** The text of the path of single children, e.g. text(root, 'Error', 'Code'). */
export function text(el: XmlElement, ...path: string[]): string {
  let cur = el;
  for (const p of path) cur = one(cur, p);
  return cur.text;
}
