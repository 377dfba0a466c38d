#!/usr/bin/env node
// Prints the configuration reference of the README as a Markdown table, one row per option.
// Types and defaults come from the zod schema in the build output, so run `npm run build`
// first. Descriptions come from the doc comments in src/config/schema.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = new URL('..', import.meta.url);
const SCHEMA_SOURCE = new URL('src/config/schema.ts', ROOT);
const SCHEMA_BUILD = new URL('dist/config/schema.js', ROOT);

/** Builds the Markdown table of every configuration option. */
export async function configReference() {
  const { configSchema } = await import(SCHEMA_BUILD.href);
  const descriptions = readDescriptions(readFileSync(SCHEMA_SOURCE, 'utf8'));
  const rows = [];
  collectRows(configSchema, '', descriptions, rows);
  const lines = ['| Option | Type | Default | Description |', '| --- | --- | --- | --- |'];
  for (const row of rows) {
    lines.push(
      `| \`${row.path}\` | ${cell(row.type)} | ${cell(row.defaultValue)} | ${cell(row.description)} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function cell(text) {
  return text.replace(/\|/g, '\\|').replace(/\s+/g, ' ').trim();
}

// --- Descriptions from the doc comments of the schema source -------------------------------

/**
 * Maps each option path, such as `requestLog.maxEntries` or `clients[].clientId`, to the doc
 * comment of its property in the schema source. Schemas named by a variable of the same file
 * are followed, so a comment is found wherever the nested schema is declared.
 */
function readDescriptions(sourceText) {
  const source = ts.createSourceFile('schema.ts', sourceText, ts.ScriptTarget.Latest, true);
  const declarations = new Map();
  for (const statement of source.statements) {
    if (!ts.isVariableStatement(statement)) continue;
    for (const declaration of statement.declarationList.declarations) {
      if (ts.isIdentifier(declaration.name) && declaration.initializer) {
        declarations.set(declaration.name.text, declaration.initializer);
      }
    }
  }
  const descriptions = new Map();
  const configSchema = declarations.get('configSchema');
  if (configSchema) describeObject(configSchema, '', declarations, sourceText, descriptions);
  return descriptions;
}

function describeObject(expression, prefix, declarations, sourceText, descriptions) {
  const literal = objectLiteralOf(expression, declarations, new Set());
  if (!literal) return;
  for (const property of literal.properties) {
    if (!ts.isPropertyAssignment(property) || !ts.isIdentifier(property.name)) continue;
    const path = `${prefix}${property.name.text}`;
    const comment = docComment(property, sourceText);
    if (comment !== undefined) descriptions.set(path, comment);
    const nested = nestedPrefix(property.initializer, path, declarations);
    if (nested)
      describeObject(nested.expression, nested.prefix, declarations, sourceText, descriptions);
  }
}

/** Finds the object literal of a `z.strictObject({...})`, through wrappers and variables. */
function objectLiteralOf(expression, declarations, seen) {
  if (ts.isIdentifier(expression)) {
    if (seen.has(expression.text)) return undefined;
    seen.add(expression.text);
    const declaration = declarations.get(expression.text);
    return declaration && objectLiteralOf(declaration, declarations, seen);
  }
  if (!ts.isCallExpression(expression) || !ts.isPropertyAccessExpression(expression.expression)) {
    return undefined;
  }
  const method = expression.expression.name.text;
  const [first] = expression.arguments;
  if (
    (method === 'strictObject' || method === 'object') &&
    first &&
    ts.isObjectLiteralExpression(first)
  ) {
    return first;
  }
  // `.optional()`, `.default(...)`, `.refine(...)` and the like wrap the schema they follow.
  return objectLiteralOf(expression.expression.expression, declarations, seen);
}

/** Returns where the options of an array's items or a record's values are described. */
function nestedPrefix(expression, path, declarations) {
  let current = expression;
  const seen = new Set();
  while (current) {
    if (ts.isIdentifier(current)) {
      if (seen.has(current.text)) return undefined;
      seen.add(current.text);
      current = declarations.get(current.text);
      continue;
    }
    if (!ts.isCallExpression(current) || !ts.isPropertyAccessExpression(current.expression)) {
      return undefined;
    }
    const method = current.expression.name.text;
    const isZ =
      ts.isIdentifier(current.expression.expression) && current.expression.expression.text === 'z';
    if (isZ && method === 'array' && current.arguments[0]) {
      return { expression: current.arguments[0], prefix: `${path}[].` };
    }
    if (isZ && method === 'record' && current.arguments[1]) {
      return { expression: current.arguments[1], prefix: `${path}.<value>.` };
    }
    if (isZ && (method === 'strictObject' || method === 'object')) {
      return { expression: current, prefix: `${path}.` };
    }
    if (isZ) return undefined;
    current = current.expression.expression;
  }
  return undefined;
}

/** Returns the text of the `/** ... *\/` comment right before a node, without its markers. */
function docComment(node, sourceText) {
  const ranges = ts.getLeadingCommentRanges(sourceText, node.getFullStart()) ?? [];
  const last = ranges.at(-1);
  if (!last) return undefined;
  const raw = sourceText.slice(last.pos, last.end);
  if (!raw.startsWith('/**')) return undefined;
  return raw
    .replace(/^\/\*\*|\*\/$/g, '')
    .split('\n')
    .map((line) => line.replace(/^\s*\*\s?/, '').trim())
    .join(' ')
    .trim();
}

// --- Types and defaults from the runtime schema -------------------------------------------

/** Adds a row for each option of an object schema, then rows for the options nested in it. */
function collectRows(objectSchema, prefix, descriptions, rows) {
  for (const [key, schema] of Object.entries(objectSchema.shape)) {
    const path = `${prefix}${key}`;
    const { inner, defaultValue, prefaulted } = unwrap(schema);
    rows.push({
      path,
      type: describeType(inner),
      defaultValue: prefaulted ? '' : formatDefault(defaultValue),
      description: descriptions.get(path) ?? '',
    });
    const nested = nestedObject(inner, path);
    // Options whose nested fields carry no doc comment here, such as `rules`, are documented in
    // their own README section instead.
    if (nested && [...descriptions.keys()].some((known) => known.startsWith(nested.prefix))) {
      collectRows(nested.schema, nested.prefix, descriptions, rows);
    }
  }
}

function unwrap(schema) {
  let current = schema;
  let defaultValue;
  let prefaulted = false;
  for (;;) {
    const def = current._zod.def;
    if (def.type === 'optional' || def.type === 'nullable') current = def.innerType;
    else if (def.type === 'default') {
      defaultValue ??= { value: def.defaultValue };
      current = def.innerType;
    } else if (def.type === 'prefault') {
      prefaulted = true;
      current = def.innerType;
    } else if (def.type === 'pipe') current = def.in;
    else return { inner: current, defaultValue, prefaulted };
  }
}

function nestedObject(schema, path) {
  const def = schema._zod.def;
  if (def.type === 'object') return { schema, prefix: `${path}.` };
  if (def.type === 'array') {
    const element = unwrap(def.element).inner;
    if (element._zod.def.type === 'object') return { schema: element, prefix: `${path}[].` };
  }
  if (def.type === 'record') {
    const value = unwrap(def.valueType).inner;
    if (value._zod.def.type === 'object') return { schema: value, prefix: `${path}.<value>.` };
  }
  return undefined;
}

function describeType(schema) {
  const def = schema._zod.def;
  switch (def.type) {
    case 'string':
      return schema.format === 'url' ? 'URL' : 'string';
    case 'number':
      return describeNumber(schema);
    case 'boolean':
      return 'boolean';
    case 'enum':
      return `one of ${Object.values(def.entries)
        .map((value) => `\`${value}\``)
        .join(', ')}`;
    case 'literal':
      return def.values.map((value) => `\`${JSON.stringify(value)}\``).join(', ');
    case 'array':
      return `array of ${plural(unwrap(def.element).inner)}`;
    case 'record':
      return `map of ${plural(unwrap(def.valueType).inner)}`;
    case 'object':
      return 'object';
    case 'unknown':
    case 'any':
      return 'any JSON value';
    default:
      return def.type;
  }
}

function describeNumber(schema) {
  const kind = schema.isInt ? 'integer' : 'number';
  const { minValue, maxValue } = schema;
  const bounded = Number.isFinite(minValue) && Number.isFinite(maxValue);
  return bounded ? `${kind}, ${minValue} to ${maxValue}` : kind;
}

function plural(schema) {
  const type = describeType(schema);
  if (type === 'object') return 'objects';
  if (type === 'string' || type === 'URL') return `${type}s`;
  if (type === 'any JSON value') return 'JSON values';
  return `(${type})`;
}

function formatDefault(defaultValue) {
  if (defaultValue === undefined) return '';
  return `\`${JSON.stringify(defaultValue.value)}\``;
}

/** Markers around the generated table in the README. */
export const START_MARKER = '<!-- config-reference:start -->';
export const END_MARKER = '<!-- config-reference:end -->';

/** Returns the table between the markers of a README, or undefined when a marker is missing. */
export function readmeTable(readme) {
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (start === -1 || end < start) return undefined;
  return readme.slice(start + START_MARKER.length, end).replace(/^\n/, '');
}

// `node scripts/config-reference.mjs` prints the table; `--write FILE` replaces the table
// between the markers of FILE.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const table = await configReference();
  const [option, file] = process.argv.slice(2);
  if (option === '--write' && file !== undefined) {
    const readme = readFileSync(file, 'utf8');
    if (readmeTable(readme) === undefined) {
      process.stderr.write(`${file} has no ${START_MARKER} ... ${END_MARKER} section\n`);
      process.exit(1);
    }
    const start = readme.indexOf(START_MARKER) + START_MARKER.length;
    const end = readme.indexOf(END_MARKER);
    writeFileSync(file, `${readme.slice(0, start)}\n${table}${readme.slice(end)}`);
  } else if (option === undefined) {
    process.stdout.write(table);
  } else {
    process.stderr.write('usage: node scripts/config-reference.mjs [--write README.md]\n');
    process.exit(2);
  }
}
