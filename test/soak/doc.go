// Package soak holds the fault tests of the session controller on a real
// kube-apiserver + etcd: the API server killed and restarted during a burst
// of launches, and the agent binary killed at random points during
// launch/hibernate/wake cycles. Each ends with an audit of what the agent
// left: home volumes lost, orphaned or duplicated children, and sessions
// whose status does not match their children (all must be 0).
//
// SOAK_CYCLES sets the number of cycles (default 200; `make soak` runs
// 1,000) and SOAK_SEED the seed of the random kill times (default: the
// clock, printed so a failing run can be repeated).
package soak
