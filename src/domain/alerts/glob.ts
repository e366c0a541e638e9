// A tiny glob matcher for container names and hosts: `*` (any run), `?` (one character),
// `[abc]`/`[a-z]`/`[!a]` classes. Written here because the domain imports no npm package.
// Matching is case-sensitive like Docker names; a leading "/" on names is ignored.

const cache = new Map<string, RegExp>();

function toRegExp(glob: string): RegExp {
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) { re += '\\['; continue; }
      let body = glob.slice(i + 1, end);
      const negate = body.startsWith('!');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(re + '$');
}

export function globMatch(glob: string, name: string): boolean {
  const n = name.startsWith('/') ? name.slice(1) : name;
  const g = glob.startsWith('/') ? glob.slice(1) : glob;
  if (!/[*?[]/.test(g)) return g === n;
  let re = cache.get(g);
  if (!re) {
    re = toRegExp(g);
    if (cache.size > 1000) cache.clear();
    cache.set(g, re);
  }
  return re.test(n);
}

export const isGlob = (s: string): boolean => /[*?[]/.test(s);
