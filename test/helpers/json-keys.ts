// JSON.parse keeps the last of two equal keys silently; log lines must carry each key once (issue 13,
// item 6: the agent's lines inside `all` had two "program" keys). A small scanner over the text.

/** Keys that occur more than once in one object of the JSON text, as "path.key". */
export function repeatedKeys(text: string): string[] {
  const out: string[] = [];
  // One frame per open object or array: the keys seen so far (objects only) and where it is.
  const frames: Array<{ keys: Set<string> | null; path: string; lastKey: string }> = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const str = JSON.parse(text.slice(i, j + 1)) as string;
      const top = frames[frames.length - 1];
      if (expectKey && top?.keys) {
        if (top.keys.has(str)) out.push(`${top.path}${str}`);
        top.keys.add(str);
        top.lastKey = str;
        expectKey = false;
      }
      i = j;
    } else if (ch === '{' || ch === '[') {
      const top = frames[frames.length - 1];
      const path = top ? `${top.path}${top.keys ? top.lastKey : '[]'}.` : '';
      frames.push({ keys: ch === '{' ? new Set() : null, path, lastKey: '' });
      expectKey = ch === '{';
    } else if (ch === '}' || ch === ']') {
      frames.pop();
    } else if (ch === ',') {
      expectKey = frames[frames.length - 1]?.keys != null;
    }
  }
  return out;
}
