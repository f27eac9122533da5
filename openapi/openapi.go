package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/lithair/lithair/rules"
)

// Version is the OpenAPI version of the documents Generate writes.
const Version = "3.1.0"

// reservedPrefix starts the paths Lithair serves itself. A model there is
// one of Lithair's own (users, tokens, sessions) and is described by the
// system routes, not by the generic record routes.
const reservedPrefix = "/api/_"

// ErrNoRules is returned by Generate when it is given no rule set.
var ErrNoRules = errors.New("openapi: no rule set")

// Info is what the document says about the server that does not come from
// the rules. The zero value gives the documented defaults.
type Info struct {
	// Title is info.title. Default "Lithair".
	Title string
	// Version is info.version: the binary's version, or any version the
	// operator wants clients to see. Default: the rule set's Version.
	Version string
	// Description is info.description. Default: a short text about the API.
	Description string
	// ServerURL, when set, is the one entry of servers
	// (e.g. "https://shop.example.com"). Default: none, so that clients
	// resolve paths against the URL the document was fetched from.
	ServerURL string
}

// obj is a JSON object of the document. encoding/json writes map keys
// sorted, which is what makes the output deterministic.
type obj = map[string]any

// Generate returns the OpenAPI 3.1.0 document of a server running set, as
// indented JSON. The same set and info always give the same bytes.
func Generate(set *rules.Set, info Info) ([]byte, error) {
	if set == nil {
		return nil, ErrNoRules
	}
	doc := build(set, info)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Patterns like ^[a-z]+$ and descriptions with <, > or & read better
	// unescaped; the document is served as application/json, never HTML.
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("openapi: encoding the document of rules %s: %w", set.Version, err)
	}
	return buf.Bytes(), nil
}

// build assembles the document as nested maps and slices.
func build(set *rules.Set, info Info) obj {
	models := servedModels(set)
	names := schemaNames(models)

	schemas := sharedSchemas()
	paths := systemPaths()
	tags := []any{obj{"name": systemTag, "description": "Lithair's own routes: health, authentication, users, tokens, rules, audit, backup, projections, events, batch, metrics."}}
	seenTag := map[string]bool{systemTag: true}
	for _, m := range models {
		n := names[m]
		modelSchemas(m, n, schemas)
		modelPaths(m, n, paths)
		if !seenTag[m.Name] {
			seenTag[m.Name] = true
			tags = append(tags, obj{"name": m.Name, "description": modelDescription(m)})
		}
	}

	if info.Title == "" {
		info.Title = "Lithair"
	}
	if info.Version == "" {
		info.Version = set.Version
	}
	if info.Description == "" {
		info.Description = "The JSON API of a Lithair server: one collection per model of the rules, " +
			"and Lithair's own routes (tag system). Every answer under /api/ carries the header " +
			"X-Lithair-Rules-Version; this document is regenerated when the rules reload."
	}
	doc := obj{
		"openapi": Version,
		"info": obj{
			"title":                   info.Title,
			"version":                 info.Version,
			"description":             info.Description,
			"x-lithair-rules-version": set.Version,
		},
		"tags":  tags,
		"paths": paths,
		"components": obj{
			"schemas":         schemas,
			"responses":       sharedResponses(),
			"parameters":      sharedParameters(),
			"headers":         sharedHeaders(),
			"securitySchemes": securitySchemes(),
		},
	}
	if info.ServerURL != "" {
		doc["servers"] = []any{obj{"url": info.ServerURL}}
	}
	return doc
}

// servedModels returns the models the generic record routes serve: those
// whose path is under /api/ (the web package routes nothing else to a
// model) but not under the reserved /api/_.
func servedModels(set *rules.Set) []*rules.Model {
	var out []*rules.Model
	for _, m := range set.Models {
		if strings.HasPrefix(m.Path, "/api/") && !strings.HasPrefix(m.Path, reservedPrefix) {
			out = append(out, m)
		}
	}
	return out
}

// modelNames are the component schema names of one model.
type modelNames struct {
	Record, Input, Replace, Patch, List string
}

func namesFor(base, sep string) modelNames {
	return modelNames{Record: base, Input: base + sep + "Input", Replace: base + sep + "Replace",
		Patch: base + sep + "Patch", List: base + sep + "List"}
}

// schemaNames gives every model its schema names: <Name>, <Name>Input, ...
// unless one of them is taken by a shared schema or an earlier model, in
// which case the model gets Model.<Name>, Model.<Name>.Input, ...; model
// names hold no dots, so those cannot be taken.
func schemaNames(models []*rules.Model) map[*rules.Model]modelNames {
	taken := map[string]bool{}
	for name := range sharedSchemas() {
		taken[name] = true
	}
	out := make(map[*rules.Model]modelNames, len(models))
	for _, m := range models {
		n := namesFor(m.Name, "")
		if taken[n.Record] || taken[n.Input] || taken[n.Replace] || taken[n.Patch] || taken[n.List] {
			n = namesFor("Model."+m.Name, ".")
		}
		taken[n.Record], taken[n.Input], taken[n.Replace], taken[n.Patch], taken[n.List] = true, true, true, true, true
		out[m] = n
	}
	return out
}

// modelDescription is the model's own description, or a line naming its
// collection.
func modelDescription(m *rules.Model) string {
	if m.Description != "" {
		return m.Description
	}
	return fmt.Sprintf("Records of the model %s, at %s.", m.Name, m.Path)
}

func ref(kind, name string) obj { return obj{"$ref": "#/components/" + kind + "/" + name} }

func schemaRef(name string) obj { return ref("schemas", name) }

// jsonContent is a content map with one JSON media type.
func jsonContent(schema any) obj {
	return obj{"application/json": obj{"schema": schema}}
}
