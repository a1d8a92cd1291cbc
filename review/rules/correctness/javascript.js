function check(value, total, a, b) {
  // ruleid: javascript.correctness.nan-comparison
  if (value === NaN) {
    return 0;
  }
  // ok: javascript.correctness.nan-comparison
  if (Number.isNaN(value)) {
    return 0;
  }
  // ruleid: javascript.correctness.self-assignment
  total = total;
  // ruleid: javascript.correctness.loose-equality
  if (a == b) {
    return 1;
  }
  // ok: javascript.correctness.loose-equality
  if (a === b || a == null) {
    return 1;
  }
}
