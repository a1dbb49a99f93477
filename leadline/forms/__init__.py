"""Lead capture: form submissions that become leads, what a captured form never keeps, and the
CRM hand-off of captured leads."""
