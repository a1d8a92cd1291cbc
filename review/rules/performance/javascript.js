async function copyAll(state, urls) {
  // ruleid: javascript.performance.json-deep-clone
  const copy = JSON.parse(JSON.stringify(state));
  // ok: javascript.performance.json-deep-clone
  const copy2 = structuredClone(state);
  // ruleid: javascript.performance.await-in-loop
  for (const url of urls) {
    await fetch(url);
  }
  // ok: javascript.performance.await-in-loop
  await Promise.all(urls.map((url) => fetch(url)));
  return [copy, copy2];
}
