/**
 * Request bodies and query strings checked with joi; a bad one gets a 400
 * that names the field, in the words Nova's jsonschema validation uses.
 * Also the parameter types of Nova's schemas that several routers share.
 */
import Joi from 'joi';
import { badRequest } from './faults';
import type { Microversion } from './microversion';

export function validate<T>(schema: Joi.Schema, value: unknown, what = 'body'): T {
  // Joi passes undefined unless a schema says required; an absent body is never what a route wants.
  if (value === undefined)
    throw badRequest(`Invalid input for field/attribute ${what}. Value: null. ${what} is required`);
  const { error, value: v } = schema.validate(value, { abortEarly: true, convert: false });
  if (error) {
    const detail = error.details[0];
    const field = detail.path.length ? detail.path.join('.') : what;
    throw badRequest(
      `Invalid input for field/attribute ${field}. Value: ${JSON.stringify(detail.context?.value ?? null)}. ${detail.message}`,
    );
  }
  return v as T;
}

/** Query strings: values are strings, so conversion is on; unknown keys are Nova-style ignored. */
export function validateQuery<T>(schema: Joi.ObjectSchema, query: unknown): T {
  const { error, value } = schema
    .unknown(true)
    .validate(query, { abortEarly: true, convert: true });
  if (error) {
    const detail = error.details[0];
    throw badRequest(
      `Invalid input for query parameters ${detail.path.join('.')}. ${detail.message}`,
    );
  }
  return value as T;
}

/** Nova's db.MAX_INT: the largest value its integer columns hold. */
export const MAX_INT = 0x7fffffff;

/** An integer id as the database's integer columns hold one (0 to MAX_INT), or undefined. */
export function integerId(text: string): number | undefined {
  if (!/^[0-9]{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= MAX_INT ? n : undefined;
}

/** oslo's is_uuid_like, as Nova checks ids in paths: 32 hex digits, dashes optional, any case. */
export const UUID_LIKE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** The keys Nova's schemas allow in server metadata and flavor extra specs. */
export const METADATA_KEY = /^[a-zA-Z0-9\-_:. ]{1,255}$/;

/** Nova's parameter_types.name: printable characters, no leading or trailing whitespace. */
export const novaName = Joi.string()
  .min(1)
  .max(255)
  .pattern(/^(?![\p{C}\p{Z}])[^\p{C}\p{Zl}\p{Zp}]*(?<![\p{C}\p{Z}])$/u, 'printable characters');

/** Nova's parameter_types.tag: a server tag, or a device's (interface, volume) tag. */
export const novaTag = Joi.string()
  .min(1)
  .max(60)
  .pattern(/^[^,/]*$/);

const TRUE_STRINGS = ['True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes'];
const FALSE_STRINGS = ['False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no'];

/** Nova's parameter_types.boolean in a body: a JSON boolean or one of its spellings; converted. */
export const novaBoolean = Joi.any()
  .custom((value: unknown, helpers) => {
    if (value === true || TRUE_STRINGS.includes(value as string)) return true;
    if (value === false || FALSE_STRINGS.includes(value as string)) return false;
    return helpers.error('any.invalid');
  })
  .messages({ 'any.invalid': '{#label} must be a boolean' });

/** oslo's bool_from_string(strict=True), as Nova reads a boolean query parameter; any case. */
export const QUERY_TRUE = ['1', 't', 'true', 'on', 'y', 'yes'];
export const QUERY_FALSE = ['0', 'f', 'false', 'off', 'n', 'no'];
export const queryBoolean = Joi.string()
  .valid(...QUERY_TRUE, ...QUERY_FALSE)
  .insensitive();
export const isQueryTrue = (text: string | undefined) =>
  text !== undefined && QUERY_TRUE.includes(text.toLowerCase());

/**
 * Nova's integer-or-digit-string parameters (flavor_param_positive,
 * non_negative_integer, positive_integer, quota values): a JSON integer or
 * a string of digits — signed only when `min` is negative — from `min` to
 * `max`; converted to a number.
 */
export function integerLike(min: number, max = MAX_INT): Joi.Schema {
  const digits = min < 0 ? /^-?[0-9]+$/ : /^[0-9]+$/;
  return Joi.any()
    .custom((value: unknown, helpers) => {
      const n =
        typeof value === 'string' && digits.test(value)
          ? Number(value)
          : typeof value === 'number'
            ? value
            : NaN;
      if (!Number.isSafeInteger(n) || n < min || n > max) return helpers.error('any.invalid');
      return n;
    })
    .messages({ 'any.invalid': `{#label} must be an integer from ${min} to ${max}` });
}

/** A query schema that refuses parameters it does not name (Nova's additionalProperties: false). */
export const refuseUnknown = (schema: Joi.ObjectSchema) =>
  schema.pattern(/./, Joi.any().forbidden());

/** From 2.75 Nova refuses query parameters it does not know; before, it ignores them. */
export const refuseUnknownFrom275 = (schema: Joi.ObjectSchema, v: Microversion) =>
  v.ge('2.75') ? refuseUnknown(schema) : schema;
