//! riskflow's expression language: CEL (the Common Expression Language),
//! parsed, type-checked, compiled and evaluated. It does no I/O and knows
//! nothing of flows, rules or decision tables; those live in `riskflow-engine`.
//!
//! ```text
//! Expr           = ConditionalOr ["?" ConditionalOr ":" Expr] ;
//! ConditionalOr  = [ConditionalOr "||"] ConditionalAnd ;
//! ConditionalAnd = [ConditionalAnd "&&"] Relation ;
//! Relation       = [Relation Relop] Addition ;
//! Relop          = "<" | "<=" | ">=" | ">" | "==" | "!=" | "in" ;
//! Addition       = [Addition ("+" | "-")] Multiplication ;
//! Multiplication = [Multiplication ("*" | "/" | "%")] Unary ;
//! Unary          = Member | "!" {"!"} Member | "-" {"-"} Member ;
//! Member         = Primary | Member "." SELECTOR ["(" [ExprList] ")"]
//!                | Member "[" Expr "]" ;
//! Primary        = ["."] IDENT ["(" [ExprList] ")"] | "(" Expr ")"
//!                | "[" [ExprList] [","] "]" | "{" [MapInits] [","] "}" | LITERAL ;
//! ```
//!
//! Stages: [`lexer`] → [`parser`] (macros expanded) → `compile` (names
//! resolved to slots, types checked, functions bound) → `eval`. Variables are
//! bound by slot at compile time: evaluating a [`Program`] does no parsing,
//! name hashing or map lookups by name.
//!
//! ```
//! use riskflow_expr::{Env, Program, Type, Value};
//! let mut env = Env::new();
//! env.declare("amount", Type::Double);
//! env.declare("age", Type::Int);
//! let p = Program::compile("amount > 5000.0 && age < 25", &env).unwrap();
//! let v = p.eval(&[Value::Double(6000.0), Value::Int(22)][..]).unwrap();
//! assert_eq!(v, Value::Bool(true));
//! ```

pub mod ast;
mod compile;
mod env;
pub mod error;
mod eval;
mod functions;
pub mod json;
pub mod lexer;
pub mod parser;
pub mod time;
mod types;
pub mod value;

pub use env::Env;
pub use error::{CompileError, EvalError, EvalErrorKind, Span, Stage};
pub use eval::Activation;
pub use functions::format_double;
pub use parser::ParseOptions;
pub use types::Type;
pub use value::{Key, Map, TypeName, Value};

/// A compiled expression, ready to evaluate many times. Immutable and `Send + Sync`.
pub struct Program {
    root: eval::Node,
    ty: Type,
    n_locals: usize,
    source: std::sync::Arc<str>,
}

/// How to compile.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Expand macros (`has`, `all`, `exists`, …). On by default.
    pub macros: bool,
    /// Reject unknown names and type errors at compile time. On by default;
    /// when off they become run-time errors.
    pub check: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            macros: true,
            check: true,
        }
    }
}

impl Program {
    /// Parses, checks and compiles `source` against `env`.
    pub fn compile(source: &str, env: &Env) -> Result<Program, CompileError> {
        Program::compile_with(source, env, Options::default())
    }

    pub fn compile_with(source: &str, env: &Env, opts: Options) -> Result<Program, CompileError> {
        let ast = parser::parse_with(
            source,
            ParseOptions {
                macros: opts.macros,
            },
        )?;
        Program::from_ast(&ast, source, env, opts.check)
    }

    /// Compiles an already-parsed expression (e.g. one rewritten by the engine).
    pub fn from_ast(
        ast: &ast::Expr,
        source: &str,
        env: &Env,
        check: bool,
    ) -> Result<Program, CompileError> {
        let mut c = compile::Compiler::new(env, check);
        let (root, ty) = c.compile(ast)?;
        Ok(Program {
            root,
            ty,
            n_locals: c.n_locals,
            source: source.into(),
        })
    }

    /// The static type the checker inferred.
    pub fn result_type(&self) -> &Type {
        &self.ty
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Slots of the declared variables the expression reads, sorted, without duplicates.
    /// This is how dependencies between variables are inferred.
    pub fn references(&self) -> Vec<usize> {
        let mut out = Vec::new();
        self.root.collect_vars(&mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The constant value of this expression, when it does not depend on any variable.
    pub fn as_constant(&self) -> Option<&Value> {
        match &self.root {
            eval::Node::Const(v) => Some(v),
            _ => None,
        }
    }

    /// Evaluates against variable values indexed by the slots `Env::declare` returned.
    #[inline]
    pub fn eval<A: Activation + ?Sized>(&self, vars: &A) -> Result<Value, EvalError> {
        self.with_frame(vars, |root, frame| root.eval(frame))
    }

    /// Evaluates an expression that must yield a bool (a rule condition):
    /// comparisons and logical operators run without building values.
    #[inline]
    pub fn eval_bool<A: Activation + ?Sized>(&self, vars: &A) -> Result<bool, EvalError> {
        self.with_frame(vars, |root, frame| root.eval_bool(frame))
    }

    /// Runs `f` on a frame over `vars`; comprehension locals exist only for
    /// expressions with macros, and a few of them live on the stack.
    #[inline(always)]
    fn with_frame<A: Activation + ?Sized, T>(
        &self,
        vars: &A,
        f: impl FnOnce(&eval::Node, &mut eval::Frame<'_, A>) -> T,
    ) -> T {
        if self.n_locals == 0 {
            return f(
                &self.root,
                &mut eval::Frame {
                    vars,
                    locals: &mut [],
                },
            );
        }
        let mut locals: smallvec::SmallVec<[Value; 4]> =
            smallvec::smallvec![Value::Null; self.n_locals];
        f(
            &self.root,
            &mut eval::Frame {
                vars,
                locals: &mut locals,
            },
        )
    }
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("source", &self.source)
            .field("type", &self.ty)
            .finish()
    }
}
