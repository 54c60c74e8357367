/**
 * Cinder's parameter_types: names and descriptions up to 255 characters,
 * metadata (and a type's extra specs) of strings — one schema for every
 * route that takes them, Cinder's own and Nova's os-volumes proxy.
 */
import Joi from 'joi';

export const name = Joi.string().max(255).allow(null, '');
export const metadataSchema = Joi.object().pattern(
  Joi.string().min(1).max(255),
  Joi.string().max(255).allow(''),
);
