// Package gatetest serves the gate fixed MetricTemplates, Secrets and
// Canaries read from YAML files (StaticObjects, LoadStaticObjects): test
// code, kept out of package gate's production API.
package gatetest
