#!/usr/bin/env node
// The `layerlock` command: dispatches to one module per sub-command. Any failure ends with exit
// code 1 and one line on stderr saying what went wrong and where.
import { readFileSync } from 'node:fs';
import { UsageError, type CommandHelp } from './common.js';
import { errorLine } from './errors.js';
import { setCfgWarningSink } from '../nn/cfg.js';
import * as demo from './demo.js';
import * as evalCmd from './eval.js';
import * as predict from './predict.js';
import * as train from './train.js';

interface Command {
  help: CommandHelp;
  run(argv: string[]): Promise<void>;
}

const commands: Record<string, Command> = {
  demo,
  train,
  eval: evalCmd,
  predict,
  exposure: await import('./exposure.js'),
  keygen: await import('./keygen.js'),
  device: await import('./device.js'),
  package: await import('./package.js'),
  install: await import('./install.js'),
  finetune: await import('./finetune.js'),
  export: await import('./export.js'),
  import: await import('./import.js'),
  bench: await import('./bench.js'),
  plan: await import('./plan.js'),
  convert: await import('./convert.js'),
  'export-onnx': await import('./export-onnx.js'),
  worker: await import('./worker.js'),
  attack: await import('./attack.js'),
  run: await import('./run.js'),
  report: await import('./report.js'),
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  return [
    'usage: layerlock <command> [options]',
    '',
    'Measure which DNN layers leak the most about their training data, and protect them in a TEE.',
    '',
    'commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.help.summary}`),
    '',
    'Run `layerlock <command> --help` for the options of a command.',
    '',
  ].join('\n');
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(version() + '\n');
    return;
  }
  const cmd = commands[name];
  if (!cmd) throw new UsageError(`unknown command "${name}" (commands: ${Object.keys(commands).join(', ')})`);
  await cmd.run(rest);
}

function fail(err: unknown): void {
  const e = err instanceof Error ? err : new Error(String(err));
  const hint = e instanceof UsageError ? ' (see --help)' : '';
  process.stderr.write(`layerlock: ${errorLine(e)}${hint}\n`);
  if (process.env['LAYERLOCK_DEBUG']) process.stderr.write(`${e.stack ?? ''}\n`);
  process.exitCode = 1;
}

// A cfg's unknown or unused keys are warnings (Darknet ignores them too), printed once each on
// stderr so that a misspelt key (`activaton=relu`) never changes a network unnoticed.
const warned = new Set<string>();
setCfgWarningSink((w) => {
  if (warned.has(w)) return;
  warned.add(w);
  process.stderr.write(`layerlock: ${errorLine(new Error(w))}\n`);
});

// Errors thrown outside the command's promise chain (a stream's 'error' event, a timer) still end
// in the same one line and exit code, never in Node's stack dump.
process.on('uncaughtException', (err) => {
  fail(err);
  process.exit(1);
});

main(process.argv.slice(2)).catch(fail);
