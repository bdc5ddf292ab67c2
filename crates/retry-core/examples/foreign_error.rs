//! `when` on a foreign error: `std::io::Error` does not implement
//! `Classify`, and needs no newtype. A TCP connection to 127.0.0.1 is
//! refused until a listener comes up 30 ms later; refused connections are
//! retried, anything else is returned at once.
//!
//! ```sh
//! cargo run -p retry-core --example foreign_error
//! ```

use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use retry_core::{BlockingRetryable, RetryPolicy};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    // Find a free port, then free it: connections are refused until the
    // listener below binds it again.
    let address = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let server = thread::spawn(move || -> std::io::Result<()> {
        thread::sleep(Duration::from_millis(30));
        let listener = TcpListener::bind(address)?;
        let (mut stream, _) = listener.accept()?;
        std::io::Write::write_all(&mut stream, b"hello")?;
        Ok(())
    });

    let policy = RetryPolicy::builder()
        .max_retries(8)
        .base_delay(Duration::from_millis(5))
        .max_delay(Duration::from_millis(40))
        .max_elapsed(Duration::from_secs(2))
        .build()?;
    let mut stream = (|| TcpStream::connect(address))
        .retry(policy)
        .when(|e| e.kind() == ErrorKind::ConnectionRefused)
        .notify(|e, next| println!("connect failed ({e}); retrying in {next:?}"))
        .context(format!("connect {address}"))
        .call()?;
    let mut greeting = String::new();
    stream.read_to_string(&mut greeting)?;
    println!("connected to {address}: {greeting}");
    server
        .join()
        .map_err(|_| "the listener thread panicked")??;
    Ok(())
}
