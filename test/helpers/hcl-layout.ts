// The layout rules of `terraform fmt` that a machine without the terraform binary can still check
// (issue 13, item 5: neither Debian nor npm packages terraform). This follows hclwrite's format.go:
//   - indentation: two spaces per line that opened brackets, a stack so that `jsonencode({` indents
//     its body once and `})` closes both;
//   - alignment: consecutive lines that assign a one-line value (`key = value`) line up their `=`
//     one space after the longest key; consecutive lines with a trailing comment line up the `#`;
//   - no trailing whitespace, and a single final newline.
// It does not re-space tokens inside a line (`a=1` inside a list) as terraform fmt does. Where the
// binary exists, the test compares this function's output with `terraform fmt -` on deliberately
// mangled copies of every file, so the rules above are checked against the real thing there.

interface Line {
  lead: string;
  assign: string | null;
  comment: string | null;
  /** Net brackets ({ [ ( and template interpolations) opened on the line. */
  net: number;
  blank: boolean;
}

interface Scan { net: number; commentAt: number; firstEq: number }

/** One pass over a line's characters, outside and inside strings (a `${ }` counts as a bracket). */
function scan(text: string, lineNo: number): Scan {
  let net = 0;
  let commentAt = -1;
  let firstEq = -1;
  // 's' inside a quoted string, a number inside a ${ } interpolation: the brackets open in it.
  const stack: Array<'s' | number> = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    const top = stack[stack.length - 1];
    if (top === 's') {
      if (ch === '\\') i++;
      else if (ch === '"') stack.pop();
      else if ((ch === '$' || ch === '%') && text[i + 1] === '{') { stack.push(0); net++; i++; }
      continue;
    }
    if (ch === '"') { stack.push('s'); continue; }
    if (top === undefined && (ch === '#' || (ch === '/' && text[i + 1] === '/'))) { commentAt = i; break; }
    if ('{[('.includes(ch)) {
      net++;
      if (typeof top === 'number') stack[stack.length - 1] = top + 1;
    } else if ('}])'.includes(ch)) {
      net--;
      if (typeof top === 'number') {
        if (ch === '}' && top === 0) stack.pop();
        else stack[stack.length - 1] = top - 1;
      }
    } else if (ch === '=' && top === undefined && firstEq < 0 && i > 0) {
      const prev = text[i - 1]!;
      const next = text[i + 1];
      // `==`, `!=`, `<=`, `>=` and `=>` are other tokens than the assignment's `=`.
      if (next !== '=' && next !== '>' && !'=!<>'.includes(prev)) firstEq = i;
    }
  }
  if (stack.length) throw new Error(`line ${lineNo}: a string or interpolation does not end on its line`);
  return { net, commentAt, firstEq };
}

/** Splits one line into hclwrite's cells. Throws on what this checker does not handle. */
function cells(raw: string, lineNo: number): Line {
  const text = raw.trim();
  if (text === '') return { lead: '', assign: null, comment: null, net: 0, blank: true };
  if (/<<-?[A-Z_]/.test(text) || text.includes('/*')) {
    throw new Error(`line ${lineNo}: heredocs and /* */ comments are not handled by this layout check`);
  }
  const { net, commentAt, firstEq } = scan(text, lineNo);
  const code = (commentAt >= 0 ? text.slice(0, commentAt) : text).trimEnd();
  const comment = commentAt > 0 ? text.slice(commentAt).trimEnd() : null;
  let lead = commentAt === 0 ? text : code;
  let assign: string | null = null;
  // Only a whole one-line value joins the alignment: the brackets from the `=` on must balance.
  if (firstEq > 0 && firstEq < code.length && scan(code.slice(firstEq), lineNo).net === 0) {
    assign = code.slice(firstEq);
    lead = code.slice(0, firstEq).trimEnd();
  }
  return { lead, assign, comment, net, blank: false };
}

/** The file as this layout check would write it. */
export function formatHclLayout(text: string): string {
  const rawLines = text.replace(/\n+$/, '').split('\n');
  const lines = rawLines.map((l, i) => cells(l, i + 1));
  const indent: number[] = [];
  const stack: number[] = [];
  for (const line of lines) {
    if (line.blank) { indent.push(0); continue; }
    if (line.net > 0) {
      indent.push(2 * stack.length);
      stack.push(line.net);
    } else if (line.net < 0) {
      let closed = -line.net;
      while (closed > 0 && stack.length) {
        const top = stack[stack.length - 1]!;
        if (closed > top) { closed -= top; stack.pop(); }
        else if (closed < top) { stack[stack.length - 1] = top - closed; closed = 0; }
        else { stack.pop(); closed = 0; }
      }
      indent.push(2 * stack.length);
    } else {
      indent.push(2 * stack.length);
    }
  }
  const leadCols = lines.map((l, i) => indent[i]! + l.lead.length);
  const assignPad = lines.map(() => 0);
  chains(lines.map((l) => l.assign !== null), (from, to) => {
    const max = Math.max(...leadCols.slice(from, to));
    for (let i = from; i < to; i++) assignPad[i] = max - leadCols[i]! + 1;
  });
  const codeCols = lines.map((l, i) => leadCols[i]! + (l.assign !== null ? assignPad[i]! + l.assign.length : 0));
  const commentPad = lines.map(() => 0);
  chains(lines.map((l) => l.comment !== null), (from, to) => {
    const max = Math.max(...codeCols.slice(from, to));
    for (let i = from; i < to; i++) commentPad[i] = max - codeCols[i]! + 1;
  });
  return lines.map((l, i) => {
    if (l.blank) return '';
    let out = ' '.repeat(indent[i]!) + l.lead;
    if (l.assign !== null) out += ' '.repeat(assignPad[i]!) + l.assign;
    if (l.comment !== null) out += ' '.repeat(commentPad[i]!) + l.comment;
    return out;
  }).join('\n') + '\n';
}

/** Calls `close(from, to)` for every run of consecutive true entries. */
function chains(flags: boolean[], close: (from: number, to: number) => void): void {
  let start = -1;
  flags.forEach((f, i) => {
    if (f && start < 0) start = i;
    if (!f && start >= 0) { close(start, i); start = -1; }
  });
  if (start >= 0) close(start, flags.length);
}

/** The first line where `text` differs from its canonical layout, or null when it is laid out. */
export function layoutDifference(text: string): { line: number; actual: string; expected: string } | null {
  const want = formatHclLayout(text);
  if (want === text) return null;
  const a = text.split('\n');
  const b = want.split('\n');
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return { line: i + 1, actual: a[i] ?? '<end of file>', expected: b[i] ?? '<end of file>' };
  }
  return { line: a.length, actual: '(trailing newlines)', expected: 'one final newline' };
}

/**
 * A copy with the layout thrown away: no indentation (or a ragged one), `pad` spaces before `=` and comments,
 * spaces at the end of code lines and on blank lines (terraform fmt keeps a comment's trailing
 * spaces as part of the comment, so those are left alone).
 */
export function mangleHclLayout(text: string, pad = 1): string {
  const sp = ' '.repeat(pad);
  return text.replace(/\n+$/, '').split('\n').map((raw, i) => {
    const l = cells(raw, i + 1);
    if (l.blank) return '   ';
    const code = `${' '.repeat((pad - 1) * (i % 3))}${l.lead}${l.assign !== null ? `${sp}${l.assign}` : ''}`;
    return l.comment !== null ? `${code}${sp}${l.comment}` : l.lead.startsWith('#') ? code : `${code}  `;
  }).join('\n') + '\n';
}
