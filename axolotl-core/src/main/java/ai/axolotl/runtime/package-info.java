/** Native runtime support: loading libtorch once and small tensor helpers shared by every package. */
package ai.axolotl.runtime;
