/** The errors the SDK throws, each with the `code` the service uses for the same failure. */

export class RolloutError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Rendering failed; `code` is the service's (`missing_variable`, `render_limit_exceeded`, ...). */
export class RenderError extends RolloutError {}

/** The template is outside the subset both SDKs render identically: refused, not guessed at. */
export class NotPortable extends RenderError {
  constructor(message: string) {
    super("not_portable", `${message}; render it with the service (POST .../render) instead`);
  }
}

/** A variable, attribute or item the template uses was not given. */
export class MissingVariable extends RenderError {
  readonly variable: string;

  constructor(variable: string) {
    super("missing_variable", `missing variable '${variable}'`);
    this.variable = variable;
  }
}

/** The render would run too many loop iterations or build too large a value. */
export class RenderLimitExceeded extends RenderError {
  constructor(message: string, code = "render_limit_exceeded") {
    super(code, message);
  }
}

/** The rendered text passed `maxChars`; detected while rendering, not after. */
export class OutputTooLarge extends RenderLimitExceeded {
  constructor(maxChars: number) {
    super(`rendered output is longer than ${maxChars} characters`, "output_too_large");
  }
}

/** The template does not parse. */
export class TemplateInvalid extends RenderError {
  constructor(message: string) {
    super("template_invalid", message);
  }
}
