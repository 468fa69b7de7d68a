// Cargo runner for wasm32-wasip1 (see .cargo/config.toml):
//   node --no-warnings tools/wasi-run.mjs file.wasm [args...]
// Runs a WASI preview1 module under Node's built-in WASI with the given
// arguments (argv[0] is the module path, as a native binary would see) and
// the environment, and exits with the module's exit code, so a failing test
// binary fails `cargo test`.
import { readFile } from 'node:fs/promises';
import process from 'node:process';
import v8 from 'node:v8';
import { WASI } from 'node:wasi';

// Node's WASI imports are V8 "fast API calls"; a WASI call that allocates
// can trigger a GC inside the fast call and corrupt the JS heap
// (nodejs/node#46777). Seen here with node v20: a test binary that grows
// its memory to 64 MiB passed and then node died with SIGSEGV (rc 139) in
// about 3 runs out of 4. Turning fast API calls off (before any code is
// optimised) makes WASI calls ordinary calls and the crash goes away.
v8.setFlagsFromString('--no-turbo-fast-api-calls');

const [file, ...rest] = process.argv.slice(2);
if (!file) {
  console.error('usage: node wasi-run.mjs file.wasm [args...]');
  process.exit(2);
}

// The working directory (the package root, where cargo runs test binaries)
// is preopened under its own absolute path, so paths built from
// env!("CARGO_MANIFEST_DIR") resolve as in a native test; nothing else of
// the host file system is visible.
const cwd = process.cwd();
const wasi = new WASI({
  version: 'preview1',
  args: [file, ...rest],
  env: process.env,
  preopens: { [cwd]: cwd },
  returnOnExit: true,
});

let code;
try {
  const module = await WebAssembly.compile(await readFile(file));
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
  code = wasi.start(instance);
} catch (err) {
  // A trap (e.g. `unreachable` from panic=abort) or a load failure.
  console.error(`wasi-run: ${file}: ${err && err.stack ? err.stack : err}`);
  code = 134;
}
process.exitCode = code ?? 0;
