//go:build race

package sp

// raceSlowdown scales the CPU budgets of cost tests: the race detector
// makes this code 5–10× slower.
const raceSlowdown = 10
