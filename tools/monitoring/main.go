// promql-check: what `promtool check rules` checks, plus the metric names each expression reads,
// for tests/test_k8s_monitoring.py. Built by tools/monitoring/install.sh into .local/.
//
//	promql-check rules FILE   parse a Prometheus rule file with rulefmt (unknown fields refused,
//	                          every expr through the PromQL parser, templates of labels and
//	                          annotations parsed); print {"rules": [{"name", "metrics"}]} as JSON
//	promql-check exprs        read a JSON array of PromQL expressions on stdin; print
//	                          [{"expr", "metrics"}] as JSON
//
// Any error is printed on stderr, one per line, and the exit status is 1.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

type ruleMetrics struct {
	Name    string   `json:"name"`
	Metrics []string `json:"metrics"`
}

type exprMetrics struct {
	Expr    string   `json:"expr"`
	Metrics []string `json:"metrics"`
}

// promtool's defaults: no experimental functions, UTF-8 names allowed when quoted.
var promql = parser.NewParser(parser.Options{})

// metricNames lists the metric names an expression selects: each selector's name, or its
// __name__ equality matcher (`{__name__="x"}`). A regex on __name__ cannot be checked by name
// and is reported as an error, so no expression escapes the check that way.
func metricNames(expr string) ([]string, error) {
	node, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var problem error
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		selector, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := selector.Name
		for _, matcher := range selector.LabelMatchers {
			if matcher.Name != model.MetricNameLabel {
				continue
			}
			if matcher.Type != labels.MatchEqual {
				problem = fmt.Errorf("a metric name selected by %s cannot be checked", matcher)
			}
			name = matcher.Value
		}
		if name != "" {
			seen[name] = true
		}
		return nil
	})
	if problem != nil {
		return nil, problem
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

func checkRules(file string) ([]ruleMetrics, []error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	groups, errs := rulefmt.ParseFile(file, false, model.UTF8Validation, promql, logger)
	if len(errs) > 0 {
		return nil, errs
	}
	var found []ruleMetrics
	for _, group := range groups.Groups {
		for _, rule := range group.Rules {
			names, err := metricNames(rule.Expr)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", file, err))
				continue
			}
			name := rule.Alert
			if name == "" {
				name = rule.Record
			}
			found = append(found, ruleMetrics{Name: name, Metrics: names})
		}
	}
	return found, errs
}

func checkExprs(input io.Reader) ([]exprMetrics, []error) {
	var exprs []string
	if err := json.NewDecoder(input).Decode(&exprs); err != nil {
		return nil, []error{fmt.Errorf("stdin: a JSON array of strings: %w", err)}
	}
	var errs []error
	found := make([]exprMetrics, 0, len(exprs))
	for _, expr := range exprs {
		names, err := metricNames(expr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%q: %w", expr, err))
			continue
		}
		found = append(found, exprMetrics{Expr: expr, Metrics: names})
	}
	return found, errs
}

func main() {
	var result any
	var errs []error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "rules":
		result, errs = checkRules(os.Args[2])
		result = map[string]any{"rules": result}
	case len(os.Args) == 2 && os.Args[1] == "exprs":
		result, errs = checkExprs(os.Stdin)
	default:
		fmt.Fprintln(os.Stderr, "usage: promql-check rules FILE | promql-check exprs < exprs.json")
		os.Exit(2)
	}
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(result); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
