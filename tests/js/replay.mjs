// Replays the golden vectors (tests/vectors/*.json with their .vxl snapshots) through the
// SDK's public API. Shared by every runtime's test: they differ only in how they load
// files and the package.
//
// Ruby tells 1 from 1.0 and JavaScript does not, so the JSON is read with floats kept:
// numbers written with a point or an exponent inside "properties" become asFloat(...).
export function parseVector(text, asFloat) {
  const marked = text.replace(/("properties":\{[^{}]*\})/g, (props) =>
    props.replace(/:(-?\d+(?:\.\d+(?:[eE][+-]?\d+)?|[eE][+-]?\d+))(?=[,}])/g, ':{"__float__":$1}'),
  );
  return JSON.parse(marked, (key, value) =>
    value !== null && typeof value === 'object' && '__float__' in value ? asFloat(value.__float__) : value,
  );
}

export function replay(Snapshot, suites) {
  let checked = 0;
  const failures = [];
  for (const { name, json, bytes } of suites) {
    const snapshot = Snapshot.decode(bytes);
    json.cases.forEach((c, i) => {
      const context = { actors: c.actors, random: c.random, now: c.now };
      const d = snapshot.evaluate(c.flag, context);
      checked++;
      if (d.enabled !== c.expected.enabled || d.reason !== c.expected.reason || d.version !== 1) {
        failures.push(`${name} case ${i}: expected ${c.expected.enabled}/${c.expected.reason}, got ${d.enabled}/${d.reason} — ${JSON.stringify(c)}`);
      }
      // Every flag at once, in one call into wasm, agrees with the flag alone.
      const all = snapshot.evaluateAll(context)[c.flag];
      const expectedAll = d.reason === 'not_found' ? undefined : d;
      if (JSON.stringify(all) !== JSON.stringify(expectedAll)) {
        failures.push(`${name} case ${i}: evaluateAll gave ${JSON.stringify(all)}, evaluate ${JSON.stringify(d)}`);
      }
      // The string shortcut agrees with the full form for a single id.
      if (c.actors.length === 1 && typeof c.actors[0] === 'string' && c.flag !== 'random_half') {
        const quick = snapshot.evaluate(c.flag, { actors: [c.actors[0]], random: c.random, now: c.now });
        if (quick.enabled !== d.enabled) failures.push(`${name} case ${i}: shortcut disagrees`);
      }
    });
    snapshot.free();
  }
  return { checked, failures };
}

export const SUITES = ['expressions', 'gates', 'gitlab', 'multi_actor', 'percentage_of_actors'];
