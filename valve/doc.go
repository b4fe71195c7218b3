// Package valve implements deepstream's Valve permission language: it loads
// a permissions.yml (or .json) file, compiles every rule once into a tree of
// Go closures and evaluates it per message without reflection and without a
// JavaScript engine.
//
// Rules are JavaScript expressions over user, data, oldData, now, action,
// the path variables ($id …) and cross-record references _('name'). The
// evaluator implements the JavaScript semantics rules observe: truthiness,
// abstract and strict equality, relational comparison, ToString/ToNumber,
// string concatenation, typeof, && and || returning an operand, the string
// methods startsWith endsWith includes indexOf match toUpperCase toLowerCase
// trim (includes and indexOf also on arrays) and regex literals translated to
// Go's RE2. Reading a property of undefined or null is a TypeError, which
// Check returns as a *RuleError.
//
// Cross-record references never block: when a record is not loaded yet,
// Check returns *NeedRecords and the caller loads the records off the event
// loop and checks again (at most MaxRuleIterations times).
//
// JSON documents (data, oldData, user.data, referenced records) are read
// lazily from their bytes: a member access scans one level of the raw text
// (duplicate keys: the last wins, as with JSON.parse) and nothing is
// materialised, so a check allocates nothing but concatenated strings.
//
// Differences from deepstream, all detected when the file is loaded unless
// noted: identifiers other than the rule variables (Math, Date, …) are
// rejected rather than resolved as JavaScript globals; bitwise, exponent,
// in/instanceof, comma, optional-chaining and ?? operators, object and
// template literals are not supported; regexes that RE2 cannot express
// (lookaround, backreferences, the y flag) are rejected, and a match()
// argument computed at run time that cannot be translated is a rule error;
// reading an inherited prototype property (data.constructor, 'x'.charAt
// without a call, a match result's .index) gives undefined; case mapping
// follows Go's unicode tables.
package valve
