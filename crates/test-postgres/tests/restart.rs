//! The harness itself: a restarted cluster comes back on the same port
//! with its data, and a session from before the restart is gone.

#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_port_and_data_and_drops_sessions() {
    let Some(cluster) = test_postgres::cluster_or_skip("restart_keeps_port_and_data") else {
        return;
    };
    let db = cluster.fresh_database().await;
    let before = cluster.admin(&db).await;
    before
        .batch_execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)")
        .await
        .expect("set up");

    let started = Instant::now();
    tokio::task::spawn_blocking(|| cluster.restart(Duration::from_millis(500)))
        .await
        .expect("the restart task")
        .expect("the restart");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "it was down"
    );

    assert!(
        before.simple_query("SELECT 1").await.is_err(),
        "a session from before the restart is closed"
    );
    let after = cluster.admin(&db).await;
    let row = after
        .query_one("SELECT n FROM kept", &[])
        .await
        .expect("the data survived");
    assert_eq!(row.get::<_, i32>(0), 7);
    assert!(cluster.url(&db).contains(&format!(":{}/", cluster.port)));
}
