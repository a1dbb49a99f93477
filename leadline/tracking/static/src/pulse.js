// /pulse.js: the tracker (core.js and the PulseGate face) and the forms (form.js) in one script.
// PulseGate.init(options) starts the tracker as PulseGateSession.init does (the endpoint
// defaults to this script's origin); PulseGate.renderForm(options) is PulseGateForms.render.
// A tracker loaded before keeps its object, which gets renderForm added.

'use strict';

import {W} from './core.js';
import {PG} from './tracker.js';
import {renderForm} from './form.js';

(W.PulseGateSession || PG).renderForm = renderForm;
