// ruleid: typescript.style.any-type
function parse(input: any) {
  return input;
}

// ok: typescript.style.any-type
function parseSafe(input: unknown): string {
  return String(input);
}
