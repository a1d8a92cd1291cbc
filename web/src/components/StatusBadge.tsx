const LABEL: Record<string, string> = { timed_out: "timed out", half_open: "half open" };

/** A status as text with a colour (the text alone carries the meaning). */
export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${status}`}>{LABEL[status] ?? status}</span>;
}
