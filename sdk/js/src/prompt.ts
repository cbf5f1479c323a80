/** One immutable prompt version, as the SDK document carries it and assignment hands it out. */

import { renderPortable, type RenderLimits } from "./render.js";

export interface PromptContent {
  name: string;
  version: number;
  template?: string | null;
  model?: string | null;
  params?: Record<string, unknown> | null;
  /** Set by the service when it knows whether both SDKs render this version identically. */
  portable?: boolean | null;
}

export class Prompt {
  readonly name: string;
  readonly version: number;
  readonly template: string | null;
  readonly model: string | null;
  readonly params: Readonly<Record<string, unknown>>;
  readonly portable: boolean | null;

  constructor(content: PromptContent) {
    this.name = String(content.name);
    this.version = Number(content.version);
    this.template = content.template ?? null;
    this.model = content.model ?? null;
    this.params = Object.freeze({ ...(content.params ?? {}) });
    this.portable = content.portable ?? null;
  }

  /**
   * The service's text for `variables`, or a `RenderError`: `NotPortable` when the version is
   * marked (or found) outside the subset both SDKs render identically, `MissingVariable`,
   * `RenderLimitExceeded`. Never a different text than the service's.
   */
  render(variables: Readonly<Record<string, unknown>> = {}, limits?: RenderLimits): string {
    if (this.template === null) {
      throw new Error(`prompt ${this.name}@${this.version} has no template`);
    }
    return renderPortable(this.template, variables, {
      ...limits,
      refuse: this.portable === false ? `prompt ${this.name}@${this.version}` : undefined,
    });
  }

  toJSON(): PromptContent {
    return {
      name: this.name,
      version: this.version,
      template: this.template,
      model: this.model,
      params: { ...this.params },
      portable: this.portable,
    };
  }
}
