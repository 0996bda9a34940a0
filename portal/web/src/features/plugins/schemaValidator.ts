import type { ErrorSchema, RJSFSchema, RJSFValidationError, ValidationData, ValidatorType } from '@rjsf/utils';

// The form's validator. rjsf's own (@rjsf/validator-ajv8) compiles each
// schema into code with `new Function`, which the portal's
// Content-Security-Policy (script-src 'self', no 'unsafe-eval') forbids,
// and a plugin's schema is only known at run time. So the form checks the
// common keywords here, by interpretation, to point at a field before
// sending; the portal checks the whole schema (JSON Schema 2020-12) and
// its answer (422 with the schema's message) is the word that counts.
// (@rjsf/validator-ajv8 stays a dependency only because @rjsf/core's
// index imports it for its test registry.)

type Schema = RJSFSchema;

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(want: Schema['type'], v: unknown): boolean {
  if (want === undefined) return true;
  const t = typeOf(v);
  return (Array.isArray(want) ? want : [want]).some((w) => w === t || (w === 'number' && t === 'integer'));
}

/** The problems of value under schema, each with its path ("/endpoint"). */
export function check(schema: Schema, value: unknown, root: Schema = schema, path = ''): { path: string; message: string }[] {
  if (typeof schema !== 'object' || schema === null) return [];
  if (schema.$ref?.startsWith('#/')) {
    const target = schema.$ref
      .slice(2)
      .split('/')
      .reduce<unknown>((s, k) => (s as Record<string, unknown> | undefined)?.[k], root);
    return check(target as Schema, value, root, path);
  }
  if (value === undefined) return [];
  const out: { path: string; message: string }[] = [];
  const say = (message: string) => out.push({ path, message });
  if (!typeMatches(schema.type, value)) {
    say(`must be ${Array.isArray(schema.type) ? schema.type.join(' or ') : schema.type}`);
    return out;
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value)))
    say(`must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`);
  if (schema.const !== undefined && JSON.stringify(schema.const) !== JSON.stringify(value)) say(`must be ${JSON.stringify(schema.const)}`);
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) say(`must be >= ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) say(`must be <= ${schema.maximum}`);
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && [...value].length < schema.minLength) say(`must have at least ${schema.minLength} characters`);
    if (schema.maxLength !== undefined && [...value].length > schema.maxLength) say(`must have at most ${schema.maxLength} characters`);
    if (schema.pattern !== undefined) {
      let re: RegExp | undefined;
      try {
        re = new RegExp(schema.pattern, 'u');
      } catch {
        // a pattern JavaScript reads differently: the portal decides
      }
      if (re && !re.test(value)) say(`must match ${schema.pattern}`);
    }
  }
  if (typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (obj[r] === undefined) out.push({ path: `${path}/${r}`, message: 'is required' });
    for (const [k, v] of Object.entries(obj)) {
      const sub = schema.properties?.[k];
      if (sub !== undefined) out.push(...check(sub as Schema, v, root, `${path}/${k}`));
      else if (schema.additionalProperties === false) out.push({ path: `${path}/${k}`, message: 'is not a known setting' });
    }
  }
  if (Array.isArray(value) && typeof schema.items === 'object' && !Array.isArray(schema.items)) {
    value.forEach((v, i) => out.push(...check(schema.items as Schema, v, root, `${path}/${i}`)));
  }
  return out;
}

/** errorSchema is rjsf's tree of field errors: {endpoint: {__errors: [...]}}. */
function errorSchemaOf(problems: { path: string; message: string }[]): ErrorSchema {
  const tree: Record<string, unknown> = {};
  for (const p of problems) {
    let node = tree;
    for (const key of p.path.split('/').filter(Boolean)) node = (node[key] ??= {}) as Record<string, unknown>;
    ((node.__errors ??= []) as string[]).push(p.message);
  }
  return tree as ErrorSchema;
}

export const schemaValidator: ValidatorType = {
  validateFormData(formData: unknown, schema: Schema): ValidationData<unknown> {
    const problems = check(schema, formData ?? {});
    const errors: RJSFValidationError[] = problems.map((p) => ({
      property: p.path.replaceAll('/', '.') || '.',
      message: p.message,
      stack: `${p.path || 'config'} ${p.message}`,
    }));
    return { errors, errorSchema: errorSchemaOf(problems) };
  },
  isValid(schema: Schema, formData: unknown, rootSchema: Schema) {
    return check(schema, formData, rootSchema).length === 0;
  },
  rawValidation<Result>(schema: Schema, formData?: unknown) {
    return { errors: check(schema, formData) as Result[] };
  },
};
