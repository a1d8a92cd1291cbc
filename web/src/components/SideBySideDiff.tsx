export interface DiffRow {
  left: string | null;
  right: string | null;
  kind: "context" | "change" | "hunk";
}

/** A unified diff as side-by-side rows: removed lines left, added lines right, a block of
 * removals paired with the additions that follow it. File headers are left out. */
export function sideBySide(patch: string): DiffRow[] {
  const rows: DiffRow[] = [];
  let removed: string[] = [];
  let added: string[] = [];
  const flush = () => {
    for (let i = 0; i < Math.max(removed.length, added.length); i++)
      rows.push({ left: removed[i] ?? null, right: added[i] ?? null, kind: "change" });
    removed = [];
    added = [];
  };
  const lines = patch.split("\n");
  while (lines.length && lines.at(-1) === "") lines.pop();
  for (const line of lines) {
    if (line.startsWith("---") || line.startsWith("+++") || line.startsWith("diff ") || line.startsWith("index ")) continue;
    if (line.startsWith("@@")) {
      flush();
      rows.push({ left: line, right: line, kind: "hunk" });
    } else if (line.startsWith("-")) {
      if (added.length) flush();
      removed.push(line.slice(1));
    } else if (line.startsWith("+")) {
      added.push(line.slice(1));
    } else if (line.startsWith(" ") || line === "") {
      // An empty line inside a hunk is an empty context line whose space was trimmed.
      flush();
      rows.push({ left: line.slice(1), right: line.slice(1), kind: "context" });
    }
  }
  flush();
  return rows;
}

/** The fix beside the code it changes. */
export function SideBySideDiff({ patch, label }: { patch: string; label: string }) {
  const rows = sideBySide(patch);
  return (
    <table className="diff" aria-label={label}>
      <thead>
        <tr>
          <th scope="col">Before</th>
          <th scope="col">After</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row, i) =>
          row.kind === "hunk" ? (
            <tr key={i} className="diff-hunk">
              <td colSpan={2}>{row.left}</td>
            </tr>
          ) : (
            <tr key={i}>
              <td className={row.kind === "change" && row.left !== null ? "diff-del" : undefined}>
                {row.left !== null && row.kind === "change" && <span className="visually-hidden">removed: </span>}
                {row.left ?? ""}
              </td>
              <td className={row.kind === "change" && row.right !== null ? "diff-add" : undefined}>
                {row.right !== null && row.kind === "change" && <span className="visually-hidden">added: </span>}
                {row.right ?? ""}
              </td>
            </tr>
          ),
        )}
      </tbody>
    </table>
  );
}
