/** One immutable prompt version, as the SDK document carries it and assignment hands it out. */

import { renderPortable, renderPortableAll, type RenderLimits } from "./render.js";

/** One message of a chat prompt: a template in a version, a text once rendered. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** `render` of a chat prompt, or `renderMessages` of one template: the message names the fit. */
export class ChatPromptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ChatPromptError";
  }
}

export interface PromptContent {
  name: string;
  version: number;
  template?: string | null;
  /** A chat prompt's messages (then `template` is null). */
  messages?: ChatMessage[] | null;
  model?: string | null;
  params?: Record<string, unknown> | null;
  /** Set by the service when it knows whether both SDKs render this version identically. */
  portable?: boolean | null;
}

export class Prompt {
  readonly name: string;
  readonly version: number;
  readonly template: string | null;
  readonly messages: readonly Readonly<ChatMessage>[] | null;
  readonly model: string | null;
  readonly params: Readonly<Record<string, unknown>>;
  readonly portable: boolean | null;

  constructor(content: PromptContent) {
    this.name = String(content.name);
    this.version = Number(content.version);
    this.template = content.template ?? null;
    this.messages = content.messages
      ? Object.freeze(content.messages.map((m) => Object.freeze({ role: m.role, content: m.content })))
      : null;
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
    if (this.messages !== null) {
      throw new ChatPromptError(
        `prompt ${this.name}@${this.version} is a chat prompt (a list of messages): render it with renderMessages(variables)`,
      );
    }
    if (this.template === null) {
      throw new Error(`prompt ${this.name}@${this.version} has no template`);
    }
    return renderPortable(this.template, variables, {
      ...limits,
      refuse: this.portable === false ? `prompt ${this.name}@${this.version}` : undefined,
    });
  }

  /** Whether this version is a chat prompt (render it with `renderMessages`). */
  get isChat(): boolean {
    return this.messages !== null;
  }

  /**
   * A chat prompt's messages with their contents rendered, under one budget for them all, as
   * the service's render endpoint answers them; the errors of `render`.
   */
  renderMessages(variables: Readonly<Record<string, unknown>> = {}, limits?: RenderLimits): ChatMessage[] {
    if (this.messages === null) {
      throw new ChatPromptError(
        `prompt ${this.name}@${this.version} is one template, not a list of messages: render it with render(variables)`,
      );
    }
    const texts = renderPortableAll(
      this.messages.map((m) => m.content),
      variables,
      { ...limits, refuse: this.portable === false ? `prompt ${this.name}@${this.version}` : undefined },
    );
    return this.messages.map((m, i) => ({ role: m.role, content: texts[i] as string }));
  }

  toJSON(): PromptContent {
    return {
      name: this.name,
      version: this.version,
      template: this.template,
      messages: this.messages === null ? null : this.messages.map((m) => ({ ...m })),
      model: this.model,
      params: { ...this.params },
      portable: this.portable,
    };
  }
}
