//go:build !race

package sp

// raceSlowdown scales the CPU budgets of cost tests (1 without -race).
const raceSlowdown = 1
