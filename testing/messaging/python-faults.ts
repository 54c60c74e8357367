/**
 * The fault vocabulary of a plain Python service: for messaging's own tests,
 * which must not depend on the Nova one layered above them.
 */
import type { FaultVocabulary } from '../../messaging/failures';

export const PYTHON_FAULTS: FaultVocabulary = {
  module: 'builtins',
  faultOf: () => ({ class: 'Exception' }),
};
