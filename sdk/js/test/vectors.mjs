// The shared vectors of tests/vectors/, read once for every test file.
import { readFileSync } from "node:fs";

const root = new URL("../../../tests/vectors/", import.meta.url);

export const assignmentVectors = JSON.parse(readFileSync(new URL("assignment.json", root), "utf8"));
export const renderVectors = JSON.parse(readFileSync(new URL("render.json", root), "utf8"));
