/** Example programs: the generated example corpus and the main example run through the builder. */
package ai.axolotl.examples;
