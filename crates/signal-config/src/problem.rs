//! What is wrong with the configuration: one problem per variable, all of
//! them at once, so one run shows the operator the whole list.

use std::fmt;

/// One configuration problem, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The environment variable at fault.
    pub variable: String,
    /// What is wrong and what is allowed (never a secret value).
    pub message: String,
}

impl ConfigProblem {
    /// A problem with `variable`.
    pub fn new(variable: impl Into<String>, message: impl Into<String>) -> ConfigProblem {
        ConfigProblem {
            variable: variable.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The lower crates' messages already name their variable; don't repeat it.
        if self.message.contains(&self.variable) {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.variable, self.message)
        }
    }
}

/// Every configuration problem found, in variable order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} configuration problem(s):", self.0.len())?;
        for problem in &self.0 {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

/// Something that is not wrong enough to stop, but that the operator should
/// see: an unknown variable that looks like ours (a typo is otherwise
/// silently ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning(pub String);

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
