/**
 * Measures how deeply objects and arrays nest in a JSON value, without recursion so that a
 * hostile value cannot overflow the stack. A scalar is 0 deep and `[]` is 1. The walk stops as
 * soon as the depth exceeds `limit`, returning a value above it.
 */
export function nestingDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const pending: Array<[unknown, number]> = [[value, 1]];
  while (pending.length > 0) {
    const [current, depth] = pending.pop() as [unknown, number];
    if (current === null || typeof current !== 'object') continue;
    deepest = Math.max(deepest, depth);
    if (deepest > limit) return deepest;
    for (const child of Object.values(current)) pending.push([child, depth + 1]);
  }
  return deepest;
}
