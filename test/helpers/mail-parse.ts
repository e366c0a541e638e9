// Just enough MIME parsing for the alert mails nodemailer sends: subject, content type, the
// text/plain and text/html parts (quoted-printable or base64 or 7bit).
function decodeQp(s: string): string {
  const bytes: number[] = [];
  const src = s.replace(/=\r?\n/g, '');
  for (let i = 0; i < src.length; i++) {
    if (src[i] === '=' && /^[0-9A-F]{2}$/i.test(src.slice(i + 1, i + 3))) { bytes.push(parseInt(src.slice(i + 1, i + 3), 16)); i += 2; }
    else bytes.push(...Buffer.from(src[i]!, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

function decodeWords(h: string): string {
  return h.replace(/=\?utf-8\?([QB])\?([^?]*)\?=/gi, (_m, enc: string, txt: string) =>
    enc.toUpperCase() === 'B' ? Buffer.from(txt, 'base64').toString('utf8') : decodeQp(txt.replace(/_/g, ' '))).replace(/\?=\s+=\?/g, '');
}

function splitPart(raw: string): { headers: Record<string, string>; body: string } {
  const i = raw.search(/\r?\n\r?\n/);
  const head = i < 0 ? raw : raw.slice(0, i);
  const body = i < 0 ? '' : raw.slice(i).replace(/^\r?\n\r?\n/, '');
  const headers: Record<string, string> = {};
  let last = '';
  for (const line of head.split(/\r?\n/)) {
    if (/^\s/.test(line) && last) headers[last] += ` ${line.trim()}`;
    else {
      const m = /^([^:]+):\s*(.*)$/.exec(line);
      if (m) { last = m[1]!.toLowerCase(); headers[last] = m[2]!; }
    }
  }
  return { headers, body };
}

function decodeBody(headers: Record<string, string>, body: string): string {
  const enc = (headers['content-transfer-encoding'] ?? '').toLowerCase();
  if (enc === 'quoted-printable') return decodeQp(body);
  if (enc === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  return body;
}

export function simpleParser(raw: string): { subject: string; text: string; html: string; contentType: string } {
  const top = splitPart(raw);
  const ct = top.headers['content-type'] ?? 'text/plain';
  const out = { subject: decodeWords(top.headers['subject'] ?? ''), text: '', html: '', contentType: ct };
  const b = /boundary="?([^";]+)"?/i.exec(ct)?.[1];
  const parts = b ? top.body.split(`--${b}`).slice(1).filter((p) => !p.startsWith('--')) : [raw];
  for (const p of parts) {
    const part = b ? splitPart(p.replace(/^\r?\n/, '')) : top;
    const pct = part.headers['content-type'] ?? 'text/plain';
    const text = decodeBody(part.headers, part.body).replace(/\r\n/g, '\n').replace(/\n+$/, '');
    if (pct.startsWith('text/html')) out.html = text;
    else if (pct.startsWith('text/plain')) out.text = text;
  }
  return out;
}
