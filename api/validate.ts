/**
 * Request bodies and query strings checked with joi; a bad one gets a 400
 * that names the field, in the words Nova's jsonschema validation uses.
 */
import Joi from 'joi';
import { badRequest } from './faults';

export function validate<T>(schema: Joi.Schema, value: unknown, what = 'body'): T {
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

/** A body that must be an object with exactly one known top-level key (Nova's action bodies). */
export const nonEmptyString = (max = 255) => Joi.string().trim().min(1).max(max);

/** Pagination parameters every list takes. */
export const paginationQuery = {
  limit: Joi.number().integer().min(0),
  marker: Joi.string().max(255),
};
