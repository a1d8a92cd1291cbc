function total(items) {
  // ruleid: javascript.style.var-declaration
  var sum = 0;
  // ok: javascript.style.var-declaration
  let count = 0;
  // ruleid: javascript.style.console-log
  console.log(sum, count);
  return items.length;
}
